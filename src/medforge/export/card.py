"""The model card (the HF ``README.md``): metadata in YAML, then the story of the model.

Every section is built from what the run recorded (corpus statistics, the pre-training config and
summary, evaluation results, emissions); a section whose record is absent says so instead of
guessing. Sample texts from the corpus appear only when asked for (``export.sample_texts``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from huggingface_hub import EvalResult, ModelCard, ModelCardData

from medforge.evaluate.report import FOOTNOTE, markdown_table, metric_label, pct
from medforge.models.presets import position_offset
from medforge.tasks.kinds import kind_of

_FAMILY_NAMES = {"roberta": "RoBERTa", "camembert": "CamemBERT", "bert": "BERT"}
PIPELINE_TAGS = {"AutoModelForMaskedLM": "fill-mask", "AutoModelForTokenClassification": "token-classification",
                 "AutoModelForSequenceClassification": "text-classification"}
# the widget's sentence, in the model's first language, around the model's own mask token
WIDGET_TEXTS = {"en": "The patient was treated with {mask}.", "fr": "Le patient a été traité par {mask}.",
                "es": "El paciente fue tratado con {mask}.", "de": "Der Patient wurde mit {mask} behandelt.",
                "ja": "患者は{mask}と診断された。"}


@dataclass
class Head:
    """A fine-tuned task model exported beside the encoder, in its own subfolder."""

    task: str
    subfolder: str
    auto_class: str


@dataclass
class CardInputs:
    name: str
    description: str
    language: list[str]
    license: str
    model_config: Any  # a transformers config
    auto_class: str
    tokenizer: Any
    datasets: list[str] = field(default_factory=list)
    corpus_stats: dict | None = None
    tokenizer_cfg: dict | None = None
    pretrain_cfg: dict | None = None
    pretrain_summary: dict | None = None
    results: dict | None = None
    heads: list[Head] = field(default_factory=list)
    plots: dict[str, str] = field(default_factory=dict)  # caption -> file name in the folder
    samples: list[str] = field(default_factory=list)


def _table(rows) -> str:
    return "\n".join(["| | |", "|---|---|"] + [f"| {k} | {v} |" for k, v in rows])


def _architecture(config) -> str:
    return _table([("layers", config.num_hidden_layers), ("attention heads", config.num_attention_heads),
                   ("hidden size", config.hidden_size), ("feed-forward size", config.intermediate_size),
                   ("vocabulary", config.vocab_size),
                   ("max sequence length", config.max_position_embeddings - position_offset(config))])


def _corpus(report: dict | None) -> str:
    if not report:
        return "Not recorded: this model was exported from a folder without the run's corpus report."
    lines = ["| corpus | details | size |", "|---|---|---|"]
    lines += [f"| {r['corpus']} | {r['details']} | {r['size']} |" for r in report["training_data"]]
    t = report["totals"]
    dropped = ", ".join(f"{k} {v}" for k, v in t["dropped"].items()) or "none"
    return "\n".join(lines) + (f"\n\n{t['kept']:,} documents kept of {t['read']:,} read (dropped: {dropped}); "
                               f"splits: {', '.join(f'{k} {v:,}' for k, v in report['splits'].items() if v)}.")


def _tokenizer(tokenizer, tokenizer_cfg: dict | None) -> str:
    rows = [("class", type(tokenizer).__name__), ("vocabulary", len(tokenizer)),
            ("max length (tokens)", tokenizer.model_max_length)]
    if tokenizer_cfg:
        rows += [(k, tokenizer_cfg[k]) for k in ("algorithm", "family", "lowercase", "fullwidth", "pre_segment")
                 if k in tokenizer_cfg]
    specials = ", ".join(f"`{t}`={tokenizer.convert_tokens_to_ids(t)}" for t in tokenizer.all_special_tokens)
    rows.append(("special tokens", specials))
    return _table(rows)


def _number(value, fmt: str) -> str:
    return "n/a (no validation split)" if value is None else format(value, fmt)


def _hyperparameters(pretrain_cfg: dict | None, summary: dict | None) -> str:
    if not pretrain_cfg:
        return "Not recorded."
    keys = ("seq_len", "batch_size", "max_steps", "learning_rate", "warmup_steps", "weight_decay", "adam_betas",
            "adam_eps", "max_grad_norm", "mlm_probability", "mask_replace_prob", "random_replace_prob",
            "whole_word_mask", "packing", "precision")
    rows = [(k, pretrain_cfg[k]) for k in keys if k in pretrain_cfg]
    if summary:
        rows += [("gradient accumulation", summary.get("grad_accum")),
                 ("global batch (sequences)", summary.get("global_batch")),
                 ("tokens seen (non-padding)", summary.get("real_tokens")),
                 ("final held-out MLM loss", _number(summary.get("final_eval_loss"), ".4f")),
                 ("final held-out perplexity", _number(summary.get("final_eval_perplexity"), ".2f")),
                 ("training time (s), summed over attempts", summary.get("wall_time_s")),
                 ("attempts (resumed after a stop or crash)", summary.get("attempts", 1))]
    return _table(rows)


def _grams(kg: float) -> float:
    return float(f"{1000 * kg:.3g}")  # significant digits: a demo run emits milligrams


def _emissions_metadata(summary: dict | None) -> dict | None:
    emissions = (summary or {}).get("emissions")
    if not emissions:
        return None
    return {"emissions": _grams(emissions["co2_eq_kg"]), "source": "CodeCarbon (offline tracker)",
            "training_type": "pre-training", "geographical_location": emissions.get("country"),
            "hardware_used": (summary or {}).get("hardware") or emissions.get("gpu") or emissions.get("cpu")}


def _environment(summary: dict | None) -> str:
    if not summary:
        return "Not recorded."
    rows = [("hardware", summary.get("hardware", "not recorded")),
            ("processes", summary.get("processes")),
            ("hours (all attempts)", round(summary.get("wall_time_s", 0) / 3600, 3))]
    emissions = summary.get("emissions")
    if emissions:
        rows += [("region (grid carbon intensity)", emissions.get("country")),
                 ("energy (kWh)", float(f"{emissions['energy_kwh']:.3g}")),
                 ("CO2 equivalent (g)", _grams(emissions["co2_eq_kg"])),
                 ("method", "CodeCarbon offline tracker (an estimate from hardware power and the region's grid)")]
    else:
        rows.append(("CO2 equivalent", "not measured (set `pretrain.carbon_country` to record it)"))
    return _table(rows)


def _evaluation(results: dict | None) -> str:
    if not results:
        return "No downstream evaluation was run."
    per_type = [f"{task}: " + ", ".join(f"{k} {pct(v['mean'])}" for k, v in _own(by_model)["per_label_f1"].items())
                for task, by_model in results["tasks"].items()]
    return (_suite(results.get("suite")) +
            f"Fine-tuned with seeds {', '.join(map(str, results['seeds']))}. {FOOTNOTE}\n\n"
            f"{markdown_table(results['tasks'], list(results['models']))}\n\n"
            "Test F1 per entity type or label (mean): " + "; ".join(per_type) +
            (f"\n\nDistilled from {public_name(results['distillation']['teacher'])}; the teacher was fine-tuned beside "
             "it with the same seeds (column `teacher` above)." if results.get("distillation") else ""))


def _suite(record: dict | None) -> str:
    """The suite score and its tasks, when the evaluation ran a suite."""
    if not record:
        return ""
    from medforge.evaluate.report import spread

    own = record["scores"].get("model") or next(iter(record["scores"].values()))
    how = "mean of the task-type averages" if record["aggregation"] == "type_macro" else "mean of the tasks"
    rows = ["| task | group | metric | test |", "|---|---|---|---|"] + [
        f"| {task} | {next(g for g, ts in record['groups'].items() if task in ts)} | "
        f"{metric_label(s['type'], s['metric'])} | {pct(s['mean'])}{spread(s)} |" for task, s in own["tasks"].items()]
    lacks = (f" It lacks {', '.join(record['lacks'])}, so it is not the published "
             f"{record['public_suite'] or 'suite'}'s score." if record["lacks"] else "")
    return (f"**Suite {record['name']}: {pct(own['score']['mean'])}{spread(own['score'])}** ({how}, per seed; "
            f"protocol {record['protocol']['hash']}).{lacks}\n\n" + "\n".join(rows) + "\n\n")


def public_name(ref: str) -> str:
    """A hub id as it is; a local folder by its last components, never the machine's absolute path (a card is
    published)."""
    from medforge import paths

    if not paths.is_local(ref):
        return ref
    parts = Path(str(ref).rstrip("/")).parts
    tail = parts[-2:] if parts and parts[-1] in ("model", "pretrain") and len(parts) > 1 else parts[-1:]
    return f"the local model `{'/'.join(tail)}`"


def _own(by_model: dict) -> dict:
    """This model's entry (the evaluate stage names it "model"; a distillation's teacher sits beside it)."""
    return by_model.get("model") or next(iter(by_model.values()))


def _eval_results(results: dict | None) -> list[EvalResult] | None:
    if not results:
        return None
    # one line per task: the mean headline over seeds (model-index has no field for the spread)
    return [EvalResult(task_type=kind_of(e["type"]).pipeline_task,
                       dataset_type=task, dataset_name=task, dataset_split="test", metric_type=e["headline"],
                       metric_name=(f"{metric_label(e['type'], e['headline'])}"
                                    f"{' (seqeval strict IOB2)' if e['type'] == 'ner' else ''}"
                                    f", mean of {len(e['seeds'])} seeds"),
                       metric_value=round(e["test"][e["headline"]]["mean"], 4))
            for task, by_model in results["tasks"].items() for e in [_own(by_model)]]


def widget_text(language: list[str], mask_token: str) -> str:
    return WIDGET_TEXTS.get((language or ["en"])[0], WIDGET_TEXTS["en"]).format(mask=mask_token)


def _usage(inputs: CardInputs) -> str:
    blocks = []
    if inputs.auto_class == "AutoModelForMaskedLM":
        blocks.append(f"""```python
from transformers import pipeline

model_id = "{inputs.name}"  # this folder's path, or its hub id once uploaded
fill = pipeline("fill-mask", model=model_id)
print(fill("{widget_text(inputs.language, inputs.tokenizer.mask_token)}"))
```""")
    for head in inputs.heads:
        task = PIPELINE_TAGS[head.auto_class]
        extra = ', aggregation_strategy="simple"' if task == "token-classification" else ""
        blocks.append(f"""The model fine-tuned on {head.task} is in the subfolder `{head.subfolder}`:

```python
from transformers import {head.auto_class}, AutoTokenizer, pipeline

model_id = "{inputs.name}"
model = {head.auto_class}.from_pretrained(model_id, subfolder="{head.subfolder}")
tokenizer = AutoTokenizer.from_pretrained(model_id, subfolder="{head.subfolder}")
run = pipeline("{task}", model=model, tokenizer=tokenizer{extra})
print(run("The patient was given aspirin for the fever."))
```""")
    return "\n\n".join(blocks) or "No usage example: this folder holds no model kind medforge knows how to run."


def _limitations(stats: dict | None) -> str:
    pii = (stats or {}).get("pii")
    if pii:
        found = ", ".join(f"{k} {v}" for k, v in pii.get("found", {}).items()) or "none"
        screening = (f"The corpus was screened for personal data before training (policy: {pii.get('policy')}); "
                     f"items found: {found}. Screening by patterns misses what it has no pattern for: names "
                     "without a title, rare identifiers, free-text descriptions of a person.")
    else:
        screening = ("The corpus was **not** screened for personal or health information by medforge. Do not "
                     "share this model if its corpus held patient data, until it has been screened.")
    return f"""This model was trained on the corpus above only. It has not been checked for clinical safety and
must not be used for diagnosis or treatment decisions. Masked language models can reproduce passages of
their training text, including personal data it contained.

{screening}"""


def build_card(inputs: CardInputs) -> ModelCard:
    config = inputs.model_config
    pipeline_tag = PIPELINE_TAGS[inputs.auto_class]
    data = ModelCardData(language=inputs.language, license=inputs.license, library_name="transformers",
                         pipeline_tag=pipeline_tag, tags=["medforge", "biomedical", "clinical", pipeline_tag],
                         datasets=inputs.datasets or None, model_name=inputs.name,
                         eval_results=_eval_results(inputs.results),
                         co2_eq_emissions=_emissions_metadata(inputs.pretrain_summary),
                         widget=[{"text": widget_text(inputs.language, inputs.tokenizer.mask_token)}]
                         if pipeline_tag == "fill-mask" else None)
    plots = "\n\n".join(f"![{caption}]({path})" for caption, path in inputs.plots.items())
    samples = ""
    if inputs.samples:
        samples = "\n\n## Sample training texts\n\nShown because the export asked for them " \
                  "(`export.sample_texts`):\n\n" + "\n".join(f"> {s}\n" for s in inputs.samples)
    content = f"""---
{data.to_yaml()}
---

# {inputs.name}

{inputs.description or "A masked language model pre-trained with medforge."}

## Architecture

{_FAMILY_NAMES.get(config.model_type, config.model_type)} encoder, saved as `{(config.architectures or ["?"])[0]}`.

{_architecture(config)}

## Training data

{_corpus(inputs.corpus_stats)}

## Tokenizer

{_tokenizer(inputs.tokenizer, inputs.tokenizer_cfg)}

## Training procedure

Masked language modelling with dynamic masking, packed sequences, AdamW with linear warmup and decay.

{_hyperparameters(inputs.pretrain_cfg, inputs.pretrain_summary)}

## Evaluation

{_evaluation(inputs.results)}

{plots}

## Environmental impact

{_environment(inputs.pretrain_summary)}

## Usage

{_usage(inputs)}

## Limitations and data use

{_limitations(inputs.corpus_stats)}{samples}
"""
    return ModelCard(content)
