"""Two CPU processes (torchrun or accelerate launch, gloo) against one process with the same global batch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests_shared import DEMO, ROOT, TINY, copy_upstream, finished_run, run_cli

COMMON = [*TINY, "pretrain.max_steps=8", "pretrain.log_every=1", "pretrain.eval_every=4", "pretrain.save_every=4",
          "pretrain.model.dropout=0"]


def losses(run):
    rows = [json.loads(r) for r in (run / "pretrain" / "metrics.jsonl").read_text().splitlines()]
    return [r.get("loss", r.get("eval_loss")) for r in rows], rows


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    return finished_run(tmp_path_factory, "inputs", *TINY)


def fresh(inputs, folder):
    return copy_upstream(inputs, folder)


@pytest.fixture(scope="module")
def one_process(inputs, tmp_path_factory):
    one = fresh(inputs, tmp_path_factory.mktemp("one") / "run")
    assert run_cli("pretrain", "--config", DEMO, f"run_dir={one}", *COMMON, "pretrain.batch_size=8") == 0
    return one


LAUNCHERS = {
    "torchrun": ["torchrun", "--standalone", "--nproc_per_node", "2"],
    # the shipped multi-GPU config: without GPUs, medforge's processes fall back to CPU and gloo
    "accelerate": ["accelerate", "launch", "--config_file", str(ROOT / "configs" / "accelerate" / "ddp.yaml"),
                   "--num_processes", "2", "--gpu_ids", "all"],
}


@pytest.mark.parametrize(("launcher", "micro"), [
    ("torchrun", ["pretrain.batch_size=2", "pretrain.grad_accum=2"]),  # accumulation: no all-reduce until the last
    ("accelerate", ["pretrain.batch_size=4"]),
    ("torchrun", ["pretrain.batch_size=4", "pretrain.data_workers=2"]),  # 2 processes x 2 data workers
])
def test_two_processes_match_one_with_the_same_global_batch(inputs, one_process, tmp_path, launcher, micro):
    two = fresh(inputs, tmp_path / "two")
    command, *args = LAUNCHERS[launcher]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([str(Path(sys.executable).parent / command), *args, "-m", "medforge.cli", "pretrain",
                           "--config", str(DEMO), f"run_dir={two}", *COMMON, *micro],
                          capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    a, rows_a = losses(one_process)
    b, rows_b = losses(two)
    assert [r["step"] for r in rows_a] == [r["step"] for r in rows_b]
    assert b == pytest.approx(a, abs=2e-5)  # same sequences, same masks, token-weighted over both processes
    meta = json.loads((two / "pretrain" / "meta.json").read_text())
    assert meta["processes"] == 2 and meta["summary"]["global_batch"] == 8
    assert sorted(p.name for p in (two / "pretrain").glob("checkpoint-*")) == ["checkpoint-4", "checkpoint-8"]
    assert (two / "pretrain" / "_COMPLETED.json").is_file()
    assert done.stdout.count("pretrain=ran") == 1  # only rank 0 reports


def test_distillation_over_two_processes_matches_one(inputs, tmp_path):
    """KL and MLM are sums over target tokens, so the split over processes must not change them."""
    distill = [*COMMON, f"pretrain.distill.teacher={inputs / 'model'}", "pretrain.distill.student_layers=1"]
    one = fresh(inputs, tmp_path / "one")
    assert run_cli("pretrain", "--config", DEMO, f"run_dir={one}", *distill, "pretrain.batch_size=8") == 0
    two = fresh(inputs, tmp_path / "two")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    command, *args = LAUNCHERS["torchrun"]
    done = subprocess.run([str(Path(sys.executable).parent / command), *args, "-m", "medforge.cli", "pretrain",
                           "--config", str(DEMO), f"run_dir={two}", *distill, "pretrain.batch_size=4"],
                          capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert losses(two)[0] == pytest.approx(losses(one)[0], abs=2e-5)
    assert json.loads((two / "pretrain" / "model" / "config.json").read_text())["num_hidden_layers"] == 1


def test_time_budget_under_torchrun_reaches_the_slurm_script_and_requeues(inputs, tmp_path):
    """torchrun turns the ranks' status 3 into its own 1; the shipped sbatch script still requeues, from the
    status file medforge's main process writes. Run for real: the script, torchrun, two gloo processes;
    only srun and scontrol are stand-ins."""
    run = fresh(inputs, tmp_path / "run")
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "srun").write_text('#!/bin/bash\nwhile [[ "$1" == --* ]]; do shift; done\nexec "$@"\n')
    (fake / "scontrol").write_text('#!/bin/bash\nif [ "$1" = show ]; then echo localhost; '
                                   'else echo "$*" >> "$SCONTROL_LOG"; fi\n')
    for tool in fake.iterdir():
        tool.chmod(0o755)
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = tmp_path / "scontrol.log"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "PATH": f"{fake}:{os.environ['PATH']}",
           "SLURM_JOB_ID": "77", "SLURM_NNODES": "1", "SLURM_GPUS_ON_NODE": "2", "SLURM_JOB_NODELIST": "localhost",
           "MASTER_PORT": str(port), "MEDFORGE_MAX_MINUTES": "1e-6", "SCONTROL_LOG": str(log),
           "MEDFORGE_STATUS_FILE": str(tmp_path / "status")}
    venv = Path(sys.executable).parent.parent
    work = tmp_path / "submit"  # the script runs .venv/bin/torchrun from the submission folder
    work.mkdir()
    (work / ".venv").symlink_to(venv)
    done = subprocess.run(["bash", str(ROOT / "configs" / "slurm" / "pretrain.sbatch"), str(DEMO), f"run_dir={run}",
                           *COMMON, "pretrain.batch_size=4"], cwd=work, capture_output=True, text=True, env=env,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "ChildFailedError" in done.stderr  # torchrun itself did report a failure ...
    assert log.read_text().split() == ["requeue", "77"]  # ... and the job requeued all the same
    assert (run / "pretrain" / "checkpoint-1").is_dir() and not (run / "pretrain" / "_COMPLETED.json").exists()
