"""Export: a model as a Hugging Face folder with its model card, verified by plain ``transformers``.

The source is a pipeline run (its pre-trained encoder, plus the fine-tuned task model of its
evaluate stage in a subfolder), a pre-training checkpoint, or any model folder. Checked before the
export is called done: every special token has its own id and the config agrees with the
tokenizer; and each exported model, reloaded with the Auto classes in a fresh process, tokenizes
sample texts the same way and gives the same logits (max abs difference <= 1e-5).
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import transformers
import yaml
from transformers import AutoConfig, AutoTokenizer

from medforge import log
from medforge.errors import InputError, MedforgeError
from medforge.export.card import CardInputs, Head, build_card, widget_text
from medforge.export.config import ExportConfig
from medforge.export.verify import Job, auto_class, verify_in_fresh_process
from medforge.models.presets import position_offset
from medforge.tokenizer.special import check_special_tokens

logger = log.get("export")
_CHECKPOINT = re.compile(r"^checkpoint-\d+$")


@dataclass
class Source:
    """What an export reads: the model and tokenizer folders, and the run's stage folders where known."""

    model: Path
    tokenizer: Path
    prepare: Path | None = None
    tokenizer_stage: Path | None = None
    pretrain: Path | None = None
    evaluate: Path | None = None


def existing(path: Path, needed: str) -> Path | None:
    return path if (path / needed).is_file() else None


def source_of(path: str | Path, tokenizer: str | Path | None = None) -> Source:
    """A run folder, a ``checkpoint-N`` folder or a model folder, as a :class:`Source`."""
    path = Path(path)
    if (path / "pretrain" / "model" / "config.json").is_file():
        return Source(path / "pretrain" / "model", Path(tokenizer or path / "pretrain" / "model"),
                      existing(path / "prepare", "corpus_report.json"), existing(path / "tokenizer", "config.yaml"),
                      path / "pretrain", existing(path / "evaluate", "results.json"))
    if _CHECKPOINT.match(path.name) and (path / "model.safetensors").is_file():
        run = path.parent.parent
        candidates = [Path(tokenizer)] if tokenizer else [path, path.parent / "model", run / "tokenizer"]
        found = next((c for c in candidates if (c / "tokenizer_config.json").is_file()), None)
        if found is None:
            raise InputError(f"{path}: no tokenizer found in {', '.join(map(str, candidates))}; pass --tokenizer DIR")
        return Source(path, found, existing(run / "prepare", "corpus_report.json"),
                      existing(run / "tokenizer", "config.yaml"),
                      path.parent)
    if (path / "config.json").is_file():
        return Source(path, Path(tokenizer or path))
    raise InputError(f"{path}: not a medforge run folder (with pretrain/model/), a checkpoint-N folder or a model "
                     "folder (with config.json); give one of these")


def _load_checked(model_dir: Path, tokenizer_dir: Path):
    where = str(model_dir)
    config = AutoConfig.from_pretrained(model_dir)
    cls = auto_class(config, where)
    model = getattr(transformers, cls).from_pretrained(model_dir).eval()
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    check_special_tokens(tokenizer, where, vocab_size=model.config.vocab_size)
    check_config_ids(model.config, tokenizer, where)
    longest = model.config.max_position_embeddings - position_offset(model.config)
    if not 0 < tokenizer.model_max_length <= longest:  # unset (a huge sentinel) or longer than the positions
        tokenizer.model_max_length = longest
    return cls, model, tokenizer


def check_config_ids(model_config, tokenizer, where: str) -> None:
    # BERT layouts have no bos/eos: the model's bos/eos are its [CLS]/[SEP]
    expected = {"pad_token_id": tokenizer.pad_token_id,
                "bos_token_id": tokenizer.cls_token_id if tokenizer.bos_token_id is None else tokenizer.bos_token_id,
                "eos_token_id": tokenizer.sep_token_id if tokenizer.eos_token_id is None else tokenizer.eos_token_id}
    for name, in_tokenizer in expected.items():
        in_config = getattr(model_config, name, None)
        if in_config is not None and in_config != in_tokenizer:
            raise MedforgeError(f"{where}: config.json has {name}={in_config} but the tokenizer says "
                                f"{in_tokenizer}; the model would read the wrong token")
    if len(tokenizer) > model_config.vocab_size:
        raise MedforgeError(f"{where}: the tokenizer has {len(tokenizer)} tokens but the model only "
                            f"{model_config.vocab_size} embeddings")


def sample_inputs(tokenizer, language: list[str]) -> list[str]:
    texts = ["The patient was admitted with fever and cough.", "Aspirin 100 mg once daily; no allergy known."]
    if tokenizer.mask_token:
        texts.append(widget_text(language, tokenizer.mask_token))
    return texts


def _read_json(path: Path | None, name: str) -> dict | None:
    return json.loads((path / name).read_text(encoding="utf-8")) if path and (path / name).is_file() else None


def _read_section(path: Path | None, section: str) -> dict | None:
    if not path or not (path / "config.yaml").is_file():
        return None
    return yaml.safe_load((path / "config.yaml").read_text(encoding="utf-8")).get(section)


def _samples(prepare: Path | None, n: int) -> list[str]:
    if not n or prepare is None:
        return []
    from medforge.corpus.store import iter_texts

    picked = []
    for batch in iter_texts(prepare, "validation", batch_size=n):
        picked += [t[:300] + ("…" if len(t) > 300 else "") for t in batch]
        break
    return picked[:n]


def export(source: Source, out: Path, cfg: ExportConfig) -> dict:
    """Write ``out`` (model, tokenizer, task heads in subfolders, plots, README.md); verify it; return a summary."""
    cls, model, tokenizer = _load_checked(source.model, source.tokenizer)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    jobs = [Job(model, tokenizer, out, "", sample_inputs(tokenizer, cfg.language))]

    results = _read_json(source.evaluate, "results.json")
    heads = []
    if results and source.evaluate is not None and (source.evaluate / "model" / "config.json").is_file():
        task = results.get("best_model", {}).get("task") or next(iter(results["tasks"]))
        head_cls, head, head_tokenizer = _load_checked(source.evaluate / "model", source.evaluate / "model")
        head.save_pretrained(out / task, safe_serialization=True)
        head_tokenizer.save_pretrained(out / task)
        heads.append(Head(task, task, head_cls))
        jobs.append(Job(head, head_tokenizer, out, task, sample_inputs(head_tokenizer, cfg.language)[:2]))

    plots = {}
    for caption, folder, name in (("training curves", source.pretrain, "training_curves.png"),
                                  ("evaluation: mean ± std over seeds", source.evaluate, "comparison.png")):
        if folder and (folder / name).is_file():
            shutil.copyfile(folder / name, out / name)
            plots[caption] = name

    summary = _read_json(source.pretrain, "train_summary.json")
    corpus = _read_json(source.prepare, "corpus_report.json")
    card = build_card(CardInputs(
        name=cfg.model_name, description=cfg.description, language=cfg.language, license=cfg.license,
        model_config=model.config, auto_class=cls, tokenizer=tokenizer, datasets=cfg.datasets,
        corpus_stats=corpus, tokenizer_cfg=_read_section(source.tokenizer_stage, "tokenizer"),
        pretrain_cfg=_read_section(source.pretrain, "pretrain"), pretrain_summary=summary, results=results,
        heads=heads, plots=plots, samples=_samples(source.prepare, cfg.sample_texts)))
    card.save(out / "README.md")

    diffs = verify_in_fresh_process(jobs)
    onnx_diff = None
    if cfg.onnx:
        from medforge.export.onnx import export_onnx

        onnx_diff = export_onnx(model, tokenizer, out, sample_inputs(tokenizer, cfg.language))
    logger.info("exported to %s; reloaded in a fresh process by plain transformers: max logit difference %.1e",
                out, max(diffs))
    return {"path": str(out), "max_logit_diff": max(diffs), "parameters": model.num_parameters(),
            "heads": [h.subfolder for h in heads], "onnx_max_logit_diff": onnx_diff}


def export_command(source: str, out: str, cfg: ExportConfig, tokenizer: str | None, force: bool) -> dict:
    target = Path(out)
    if target.exists() and any(target.iterdir()) and not force:
        raise InputError(f"{target}: folder is not empty; choose another --out or pass --force")
    return export(source_of(source, tokenizer), target, cfg)
