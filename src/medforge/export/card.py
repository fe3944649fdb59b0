"""The model card (the HF ``README.md``): metadata in YAML, then the story of the model."""

from __future__ import annotations

from huggingface_hub import EvalResult, ModelCard, ModelCardData

from medforge.evaluate.report import FOOTNOTE, LABELS, markdown_table, pct
from medforge.models.presets import position_offset

_FAMILY_NAMES = {"roberta": "RoBERTa", "camembert": "CamemBERT", "bert": "BERT"}


def _architecture(config) -> str:
    rows = [("layers", config.num_hidden_layers), ("attention heads", config.num_attention_heads),
            ("hidden size", config.hidden_size), ("feed-forward size", config.intermediate_size),
            ("vocabulary", config.vocab_size),
            ("max sequence length", config.max_position_embeddings - position_offset(config))]
    return "\n".join(["| | |", "|---|---|"] + [f"| {k} | {v} |" for k, v in rows])


def _corpus(stats: dict) -> str:
    lines = ["| source | documents read | kept (train / validation) | empty dropped | words |",
             "|---|---|---|---|---|"]
    for source, c in stats["sources"].items():
        lines.append(f"| {source} | {c.get('read', 0)} | {c.get('kept_train', 0)} / {c.get('kept_validation', 0)} "
                     f"| {c.get('dropped_empty', 0)} | {c.get('words', 0)} |")
    return "\n".join(lines)


def _number(value, fmt: str) -> str:
    return "n/a (no validation split)" if value is None else format(value, fmt)


def _hyperparameters(pretrain_cfg: dict, summary: dict) -> str:
    keys = ("seq_len", "batch_size", "grad_accum", "max_steps", "learning_rate", "warmup_steps",
            "weight_decay", "adam_betas", "adam_eps", "max_grad_norm", "mlm_probability", "mask_replace_prob",
            "random_replace_prob")
    rows = [(k, pretrain_cfg[k]) for k in keys if k in pretrain_cfg]
    rows += [("global batch (sequences)", summary.get("global_batch")),
             ("tokens seen (non-padding)", summary.get("real_tokens")),
             ("final held-out MLM loss", _number(summary.get("final_eval_loss"), ".4f")),
             ("final held-out perplexity", _number(summary.get("final_eval_perplexity"), ".2f")),
             ("training time (s)", summary.get("wall_time_s"))]
    return "\n".join(["| | |", "|---|---|"] + [f"| {k} | {v} |" for k, v in rows])


def build_card(name: str, description: str, language: list[str], license: str, model_config, mask_token: str,
               corpus_stats: dict, pretrain_cfg: dict, pretrain_summary: dict, results: dict | None) -> ModelCard:
    eval_results = None
    if results:
        # one line per task: the mean strict F1 over seeds (model-index has no field for the spread)
        eval_results = [EvalResult(task_type="token-classification" if e["type"] == "ner" else "text-classification",
                                   dataset_type=task, dataset_name=task, dataset_split="test",
                                   metric_type=e["headline"],
                                   metric_name=(f"{LABELS[e['headline']]}"
                                                f"{' (seqeval strict IOB2)' if e['type'] == 'ner' else ''}, "
                                                f"mean of {len(e['seeds'])} seeds"),
                                   metric_value=round(e["test"][e["headline"]]["mean"], 4))
                        for task, by_model in results["tasks"].items() for e in by_model.values()]
    data = ModelCardData(language=language, license=license, library_name="transformers", pipeline_tag="fill-mask",
                         tags=["medforge", "biomedical", "clinical", "fill-mask"], model_name=name,
                         eval_results=eval_results)
    evaluation = "No downstream evaluation was run."
    if results:
        models = list(results["models"])
        per_type = []
        for task, by_model in results["tasks"].items():
            for entry in by_model.values():
                per_type.append(f"{task}: " + ", ".join(f"{k} {pct(v['mean'])}"
                                                        for k, v in entry["per_label_f1"].items()))
        evaluation = (f"Fine-tuned with seeds {', '.join(map(str, results['seeds']))}. {FOOTNOTE}\n\n"
                      f"{markdown_table(results['tasks'], models)}\n\nTest F1 per entity type or label (mean): " +
                      "; ".join(per_type))
    content = f"""---
{data.to_yaml()}
---

# {name}

{description or "A masked language model pre-trained with medforge."}

## Architecture

{_FAMILY_NAMES.get(model_config.model_type, model_config.model_type)} encoder, saved as `{(model_config.architectures or ["a masked language model"])[0]}`.

{_architecture(model_config)}

## Training data

{_corpus(corpus_stats)}

## Training procedure

Masked language modelling with dynamic masking, packed sequences, AdamW with linear warmup and decay.

{_hyperparameters(pretrain_cfg, pretrain_summary)}

## Evaluation

{evaluation}

## Usage

```python
from transformers import pipeline

fill = pipeline("fill-mask", model="PATH_TO_THIS_FOLDER")
print(fill("The patient was treated with {mask_token}."))
```

## Limitations and data use

This model was trained on the corpus above only; it has not been checked for clinical safety and
must not be used for diagnosis. The corpus was not screened for personal health information by
this export: check the corpus report before sharing the model.
"""
    return ModelCard(content)
