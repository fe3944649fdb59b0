"""Exact resume: a run killed after a checkpoint, then rerun, reproduces the uninterrupted run."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

import medforge.pretrain.loop as loop_module
from medforge.pipeline import MARKER
from tests_shared import DEMO, TINY, copy_upstream, finished_run, run_cli

RESUME = [*TINY, "pretrain.max_steps=12", "pretrain.save_every=4", "pretrain.eval_every=4", "pretrain.log_every=1",
          "pretrain.keep_last=5"]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    return finished_run(tmp_path_factory, "whole", *RESUME)


def rows(folder):
    return [{k: v for k, v in row.items() if k not in ("tokens_per_s", "tflops", "mfu")}  # timings
            for row in rows_json(folder)]


def rows_json(folder):
    return [json.loads(line) for line in (folder / "pretrain" / "metrics.jsonl").read_text().splitlines()]


def kill_after_checkpoint(monkeypatch, at_step: int):
    """Make the run die (as if killed) right after checkpoint-<at_step> is written."""
    real_save = loop_module.save_checkpoint

    def save_then_die(folder, step, *args, **kwargs):
        path = real_save(folder, step, *args, **kwargs)
        if step == at_step:
            raise KeyboardInterrupt
        return path

    monkeypatch.setattr(loop_module, "save_checkpoint", save_then_die)
    return lambda: monkeypatch.setattr(loop_module, "save_checkpoint", real_save)


def test_killed_run_resumes_to_the_same_losses_and_weights(uninterrupted, tmp_path, monkeypatch):
    run = tmp_path / "run"
    copy_upstream(uninterrupted, run)
    revive = kill_after_checkpoint(monkeypatch, 8)
    assert run_cli("pretrain", "--config", DEMO, f"run_dir={run}", *RESUME) == 130
    assert not (run / "pretrain" / MARKER).exists()
    revive()
    (run / "pretrain" / ".checkpoint-12.tmp").mkdir()  # a save interrupted half-way is never resumed from

    assert run_cli("pretrain", "--config", DEMO, f"run_dir={run}", *RESUME) == 0
    summary = json.loads((run / "pretrain" / "train_summary.json").read_text())
    assert summary["resumed_from_step"] == 8
    a, b = rows(uninterrupted), rows(run)
    assert [r["step"] for r in a] == [r["step"] for r in b]
    for ra, rb in zip(a, b):
        for key in ra:
            assert rb[key] == pytest.approx(ra[key], abs=1e-6), (ra["step"], key)
    wa = load_file(uninterrupted / "pretrain" / "model" / "model.safetensors")
    wb = load_file(run / "pretrain" / "model" / "model.safetensors")
    for name in wa:
        torch.testing.assert_close(wb[name], wa[name], rtol=0, atol=1e-6)


def test_time_budget_stops_cleanly_and_the_rerun_finishes(uninterrupted, tmp_path, capsys, caplog):
    run = tmp_path / "run"
    copy_upstream(uninterrupted, run)
    assert run_cli("pretrain", "--config", DEMO, f"run_dir={run}", *RESUME, "pretrain.max_minutes=1e-6") == 3
    assert "time budget" in capsys.readouterr().err
    assert (run / "pretrain" / "checkpoint-1").is_dir() and not (run / "pretrain" / MARKER).exists()
    assert run_cli("pretrain", "--config", DEMO, f"run_dir={run}", *RESUME) == 0  # no budget: finishes
    summary = json.loads((run / "pretrain" / "train_summary.json").read_text())
    assert summary["resumed_from_step"] == 1
    # the training time covers both attempts (it was the last one's alone), and says how many there were
    first = json.loads((run / "pretrain" / "checkpoint-4" / "trainer_state.json").read_text())
    assert summary["attempts"] == 2 and first["attempts"] == 2
    assert summary["wall_time_s"] > summary["last_attempt_wall_time_s"] > 0
    assert "reused the packed" in caplog.text  # the rerun did not tokenize the corpus again
    assert [r["loss"] for r in rows(run) if "loss" in r] == pytest.approx(
        [r["loss"] for r in rows(uninterrupted) if "loss" in r], abs=1e-6)


SCHEDULE = [*TINY, "pretrain.max_steps=10", "pretrain.short_seq_len=32", "pretrain.short_fraction=0.5",
            "pretrain.save_every=4", "pretrain.eval_every=5", "pretrain.log_every=1", "pretrain.keep_last=5"]


def test_short_then_long_schedule_switches_and_resumes_across_the_switch(uninterrupted, tmp_path, monkeypatch):
    whole = copy_upstream(uninterrupted, tmp_path / "whole")
    assert run_cli("pretrain", "--config", DEMO, f"run_dir={whole}", *SCHEDULE) == 0
    rows_whole = rows(whole)
    tokens = [r["real_tokens"] for r in rows_whole if "loss" in r]
    per_step = [b - a for a, b in zip([0] + tokens, tokens)]
    assert all(t <= 16 * 32 for t in per_step[:5]) and all(16 * 32 < t <= 16 * 64 for t in per_step[5:])
    summary = json.loads((whole / "pretrain" / "train_summary.json").read_text())
    assert summary["schedule"] == {"short_seq_len": 32, "short_steps": 5}
    flops = [r["tflops"] / r["tokens_per_s"] for r in rows_json(whole) if "loss" in r]  # TFLOPs per token
    assert max(flops[:5]) < min(flops[5:])  # attention costs less per token in the short phase

    killed = copy_upstream(uninterrupted, tmp_path / "killed")
    revive = kill_after_checkpoint(monkeypatch, 4)
    assert run_cli("pretrain", "--config", DEMO, f"run_dir={killed}", *SCHEDULE) == 130
    revive()
    assert run_cli("pretrain", "--config", DEMO, f"run_dir={killed}", *SCHEDULE) == 0
    for a, b in zip(rows_whole, rows(killed), strict=True):
        assert b == pytest.approx(a, abs=1e-6)


def test_distillation_learns_and_resumes_to_the_same_losses(uninterrupted, tmp_path, monkeypatch):
    distill = [*RESUME, f"pretrain.distill.teacher={uninterrupted / 'model'}", "pretrain.distill.student_layers=1",
               "pretrain.distill.align=cosine"]
    whole, cut = copy_upstream(uninterrupted, tmp_path / "whole"), copy_upstream(uninterrupted, tmp_path / "cut")
    assert run_cli("pretrain", "--config", DEMO, f"run_dir={whole}", *distill) == 0
    revive = kill_after_checkpoint(monkeypatch, 8)
    assert run_cli("pretrain", "--config", DEMO, f"run_dir={cut}", *distill) == 130
    revive()
    assert run_cli("pretrain", "--config", DEMO, f"run_dir={cut}", *distill) == 0
    a, b = rows(whole), rows(cut)
    for ra, rb in zip(a, b):
        for key in ra:
            assert rb[key] == pytest.approx(ra[key], abs=1e-6), (ra["step"], key)
    losses = [r["loss"] for r in a if "loss" in r]
    assert losses[-1] < losses[0] and all("distill_kl" in r and "distill_align" in r for r in a if "loss" in r)
    config = json.loads((whole / "pretrain" / "model" / "config.json").read_text())
    assert config["num_hidden_layers"] == 1  # the student alone is saved, a standard *ForMaskedLM
    summary = json.loads((whole / "pretrain" / "train_summary.json").read_text())
    assert summary["distill"]["teacher_parameters"] > summary["parameters"]


def test_a_run_fed_by_data_workers_resumes_to_the_losses_of_one_fed_by_the_loop(uninterrupted, tmp_path, monkeypatch):
    """Two DataLoader workers build the batches ahead; killed after checkpoint 8 and resumed (workers again),
    the run reproduces the uninterrupted run whose loop built its own batches."""
    run = copy_upstream(uninterrupted, tmp_path / "run")
    revive = kill_after_checkpoint(monkeypatch, 8)
    workers = [*RESUME, "pretrain.data_workers=2"]
    assert run_cli("pretrain", "--config", DEMO, f"run_dir={run}", *workers) == 130
    revive()
    assert run_cli("pretrain", "--config", DEMO, f"run_dir={run}", *workers) == 0
    for a, b in zip(rows(uninterrupted), rows(run), strict=True):
        assert b == pytest.approx(a, abs=1e-6)
