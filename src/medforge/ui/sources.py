"""What the paths given to ``medforge serve`` are: masked language models, NER models, tokenizers, runs.

A run folder brings its models (the export's, else pre-training's, for fill-mask; the evaluate stage's
NER model) besides its dashboard; an exported folder brings its masked LM and each fine-tuned head under
``<task>/``. A folder that is neither a model nor a run is an error naming it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from medforge.errors import InputError


def stage_folders() -> dict[str, str]:
    from medforge.pipeline import STAGES

    return {s.name: s.dirname for s in STAGES}


@dataclass
class Sources:
    masked: dict[str, Path] = field(default_factory=dict)  # name -> masked LM folder
    taggers: dict[str, Path] = field(default_factory=dict)  # name -> token-classification folder
    tokenizers: dict[str, Path] = field(default_factory=dict)  # name -> any folder holding a tokenizer
    runs: dict[str, Path] = field(default_factory=dict)


def architecture(folder: Path) -> str:
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return ""
    return " ".join(config.get("architectures") or [])


def is_run(folder: Path) -> bool:
    return any((folder / name / "config.yaml").is_file() for name in stage_folders().values())


def _model(sources: Sources, name: str, folder: Path) -> bool:
    kind = architecture(folder)
    if not kind:
        return False
    if "MaskedLM" in kind:
        sources.masked[name] = folder
    if "TokenClassification" in kind:
        sources.taggers[name] = folder
    if (folder / "tokenizer_config.json").is_file() or (folder / "tokenizer.json").is_file():
        sources.tokenizers[name] = folder
    for head in sorted(p for p in folder.iterdir() if p.is_dir()):  # an export's fine-tuned heads
        if "TokenClassification" in architecture(head):
            sources.taggers[f"{name}/{head.name}"] = head
    return True


def find(paths: list[str]) -> Sources:
    sources = Sources()
    names = _names(paths)
    for name, raw in zip(names, paths):
        folder = Path(raw).expanduser()
        if not folder.is_dir():
            raise InputError(f"{raw}: no such folder; give model folders (config.json) or run folders")
        if is_run(folder):
            sources.runs[name] = folder
            for sub, label in (("model", "model"), ("pretrain/model", "pretrain"), ("evaluate/model", "evaluate")):
                if (folder / sub / "config.json").is_file():
                    _model(sources, f"{name}:{label}", folder / sub)
        elif not _model(sources, name, folder):
            raise InputError(f"{raw}: neither a model folder (no config.json) nor a run folder (no stage folder "
                             f"such as {', '.join(stage_folders().values())}); give RUN, RUN/model or a model folder")
    return sources


def _names(paths: list[str]) -> list[str]:
    from medforge.paths import short_names

    return short_names(paths)
