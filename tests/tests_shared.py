"""Helpers importable from test modules: paths, the shared data sets, and running the real pipeline through
the command line on the demo config (conftest.py holds the fixtures)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from medforge import cli

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"
SAMPLE = ROOT / "src" / "medforge" / "assets" / "sample"
DEMO = ROOT / "configs" / "demo.yaml"


def shared_data(relative: str) -> Path:
    """A file of ../shared/data, or a clean skip saying what is missing."""
    path = SHARED_DATA / relative
    if not path.exists():
        pytest.skip(f"{path} is absent (the shared real data sets are not on this machine)")
    return path


TINY = ["pretrain.max_steps=20", "pretrain.eval_every=10", "pretrain.save_every=10", "pretrain.log_every=5",
        "pretrain.seq_len=64", "pretrain.warmup_steps=4", "tokenizer.vocab_size=800", "evaluate.epochs=5",
        "evaluate.seeds=2"]


def run_cli(*args: str) -> int:
    return cli.main([str(a) for a in args])


def copy_upstream(source: Path, target: Path) -> Path:
    """A new run folder holding the finished prepare and tokenizer stages of ``source``."""
    for stage in ("prepare", "tokenizer"):
        shutil.copytree(source / stage, target / stage)
    return target


def finished_run(tmp_path_factory, name: str, *overrides: str) -> Path:
    """A new run folder where the whole demo pipeline ran with these overrides."""
    folder = tmp_path_factory.mktemp(name) / "run"
    assert run_cli("run", DEMO, f"run_dir={folder}", *overrides) == 0
    return folder
