"""Two CPU processes (torchrun, gloo) against one process with the same global batch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "stages"))
from test_demo_pipeline import DEMO, TINY, copy_upstream, run_cli  # noqa: E402

COMMON = [*TINY, "pretrain.max_steps=8", "pretrain.log_every=1", "pretrain.eval_every=4", "pretrain.save_every=4",
          "pretrain.model.dropout=0"]


def losses(run):
    rows = [json.loads(r) for r in (run / "pretrain" / "metrics.jsonl").read_text().splitlines()]
    return [r.get("loss", r.get("eval_loss")) for r in rows], rows


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("inputs") / "run"
    assert run_cli("run", DEMO, f"run_dir={folder}", *TINY) == 0
    return folder


def fresh(inputs, folder):
    return copy_upstream(inputs, folder)


def test_two_processes_match_one_with_the_same_global_batch(inputs, tmp_path):
    one = fresh(inputs, tmp_path / "one")
    assert run_cli("pretrain", "--config", DEMO, f"run_dir={one}", *COMMON, "pretrain.batch_size=8") == 0

    two = fresh(inputs, tmp_path / "two")
    torchrun = Path(sys.executable).parent / "torchrun"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([str(torchrun), "--standalone", "--nproc_per_node", "2", "-m", "medforge.cli", "pretrain",
                           "--config", str(DEMO), f"run_dir={two}", *COMMON, "pretrain.batch_size=4"],
                          capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    a, rows_a = losses(one)
    b, rows_b = losses(two)
    assert [r["step"] for r in rows_a] == [r["step"] for r in rows_b]
    assert b == pytest.approx(a, abs=2e-5)  # same sequences, same masks, token-weighted over both processes
    meta = json.loads((two / "pretrain" / "meta.json").read_text())
    assert meta["processes"] == 2 and meta["summary"]["global_batch"] == 8
    assert sorted(p.name for p in (two / "pretrain").glob("checkpoint-*")) == ["checkpoint-4", "checkpoint-8"]
    assert (two / "pretrain" / "_COMPLETED.json").is_file()
    assert done.stdout.count("pretrain=ran") == 1  # only rank 0 reports
