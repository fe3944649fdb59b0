"""Real ``kill -9`` of the preparation commands, as a user's job is killed: ``medforge prepare`` (the task
engine, two worker processes) killed while its file tasks run and again while its shard tasks run, then
``medforge pretrain --pack-part`` killed while it tokenizes; each rerun finishes with exactly the output of a
run that was never interrupted."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pyarrow.parquet as pq
import yaml

from medforge.data.pack import PACK_WORK

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit" / "corpus"))
from test_task_engine import families, outputs  # noqa: E402

from tests_shared import copy_upstream  # noqa: E402

MEDFORGE = Path(sys.executable).parent / "medforge"


def _pipeline(tmp_path: Path, inputs: Path) -> Path:
    config = tmp_path / "pipeline.yaml"
    config.write_text(yaml.safe_dump({
        "run_dir": str(tmp_path / "run"), "seed": 0,
        "prepare": {"inputs": [str(inputs)], "shard_docs": 20, "validation_fraction": 0.2, "engine": "tasks",
                    "workers": 2},
        "tokenizer": {"algorithm": "byte_bpe", "vocab_size": 400},
        "pretrain": {"model": {"preset": "tiny"}, "seq_len": 64, "pack_workers": 2}}))
    return config


def _medforge(*args) -> subprocess.CompletedProcess:
    done = subprocess.run([MEDFORGE, *map(str, args)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def _kill_when(args: list, ready: Callable[[], bool], what: str) -> None:
    """Start the command in its own process group and SIGKILL the whole group (workers included) as soon as
    ``ready()``; fails if the command finished first."""
    job = subprocess.Popen([MEDFORGE, *map(str, args)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                           start_new_session=True)
    deadline = time.time() + 300
    while not ready():
        assert job.poll() is None, f"the command ended before it could be killed {what}"
        assert time.time() < deadline
        time.sleep(0.005)
    os.killpg(job.pid, signal.SIGKILL)
    job.wait(timeout=60)
    assert job.returncode == -signal.SIGKILL


def test_killed_prepare_and_pack_part_rerun_to_the_uninterrupted_output(tmp_path):
    inputs = tmp_path / "in"
    inputs.mkdir()
    for i in range(12):
        (inputs / f"part-{i:02d}.txt").write_text("\n".join(families(200, seed=i)) + "\n", encoding="utf-8")
    config = _pipeline(tmp_path, inputs)
    run = tmp_path / "run"
    work, shards = run / "prepare-work", run / "prepare" / "shards"

    _kill_when(["prepare", "--config", config], lambda: len(list(work.glob("unit-*.json"))) >= 2,
               "during its file tasks")
    finished = len(list(work.glob("unit-*.json")))
    assert 0 < finished < 12
    _kill_when(["prepare", "--config", config],
               lambda: len(list(shards.glob("train-*.parquet")) + list(shards.glob(".train-*.tmp"))) >= 3,
               "during its shard tasks")
    rerun = _medforge("prepare", "--config", config)
    assert "12 files (12 done before)" in rerun.stderr  # the file tasks that finished before were kept
    assert not list(shards.glob(".*")) and not work.exists()

    reference = tmp_path / "reference"
    _medforge("prepare", "--config", config, f"run_dir={reference}", "prepare.engine=stream", "prepare.workers=1")
    assert outputs(run / "prepare") == outputs(reference / "prepare")

    _medforge("tokenizer", "train", "--config", config)
    tokens = run / PACK_WORK / "train"
    train_files = len(list(shards.glob("train-*.parquet")))
    assert train_files > 20
    _kill_when(["pretrain", "--config", config, "--pack-part", "0/1"],
               lambda: len(list(tokens.glob("tokens-*.json"))) >= 3, "while it tokenized")
    assert 0 < len(list(tokens.glob("tokens-*.json"))) < train_files
    _medforge("pretrain", "--config", config, "--pack-part", "0/1")
    assert not list(tokens.glob(".*"))  # a torn temporary file of the killed run was replaced, not kept

    whole = copy_upstream(run, tmp_path / "whole")
    _medforge("pretrain", "--config", config, f"run_dir={whole}", "--pack-part", "0/1")
    for split in ("train", "validation"):
        ours = sorted((run / PACK_WORK / split).glob("tokens-*.parquet"))
        theirs = sorted((whole / PACK_WORK / split).glob("tokens-*.parquet"))
        assert [p.name for p in ours] == [p.name for p in theirs] and len(ours) > 1
        for a, b in zip(ours, theirs):
            assert pq.read_table(a).equals(pq.read_table(b)), a.name
