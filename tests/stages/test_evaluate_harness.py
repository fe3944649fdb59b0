"""``medforge evaluate MODEL... --tasks ...``: two models x one task x two seeds, compared."""

from __future__ import annotations

import csv
import json
import shutil

import pytest
from transformers import AutoTokenizer

from medforge.models.presets import build_mlm
from test_demo_pipeline import DEMO, TINY, run_cli

TASK = """name: sample
language: en
train: {root}/train.conll
dev: {root}/dev.conll
test: {root}/test.conll
max_length: 64
"""


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    folder = tmp_path_factory.mktemp("harness")
    run = folder / "run"
    assert run_cli("run", DEMO, f"run_dir={run}", *TINY, "--force") == 0
    tokenizer = AutoTokenizer.from_pretrained(run / "pretrain" / "model")
    untrained = folder / "untrained"
    build_mlm("roberta", "tiny", tokenizer, 64).save_pretrained(untrained)
    tokenizer.save_pretrained(untrained)
    return run / "pretrain" / "model", untrained


def test_two_models_two_seeds_compared_with_tables_and_tests(models, tmp_path, capsys, caplog):
    from medforge.paths import assets_dir

    task = tmp_path / "sample.yaml"
    task.write_text(TASK.format(root=assets_dir() / "sample" / "ner"))
    out = tmp_path / "eval"
    args = ["evaluate", *map(str, models), "--tasks", str(task), "--seeds", "2", "--out", str(out),
            "--set", "epochs=2", "learning_rate=2e-3"]
    assert run_cli(*args) == 0
    printed = capsys.readouterr().out
    assert "| sample | F1 |" in printed

    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["tasks"]["sample"]) == {"model", "untrained"} and summary["seeds"] == [42, 43]
    for name in ("model", "untrained"):
        entry = summary["tasks"]["sample"][name]
        assert entry["seeds"] == [42, 43] and len(entry["test"]["f1"]["values"]) == 2
        assert (out / "sample" / name / "seed-43" / "test.jsonl").is_file()
    row = summary["comparisons"]["sample"][0]
    assert row["model"] == "untrained" and row["baseline"] == "model" and row["seeds"] == [42, 43]
    assert 0 <= row["bootstrap"]["p_value"] <= 1 and row["permutation"]["exact"]
    assert row["permutation"]["permutations"] == 6  # C(4, 2) relabellings of 2 + 2 seeds

    md = (out / "comparison.md").read_text()
    assert "bootstrap p" in md and "lenient*" in md and "**" in md  # the best mean is bold
    assert r"\textbf{" in (out / "comparison.tex").read_text()
    rows = list(csv.DictReader((out / "comparison.csv").open()))
    assert {r["model"] for r in rows} == {"model", "untrained"} and all(r["n"] == "2" for r in rows)
    assert (out / "comparison.png").read_bytes()[:4] == b"\x89PNG"

    # resumable: a second call redoes only the missing run
    shutil.rmtree(out / "sample" / "untrained" / "seed-43")
    caplog.clear()
    assert run_cli(*args) == 0
    assert caplog.text.count("done before, kept") == 3 and (out / "sample" / "untrained" / "seed-43").is_dir()
    again = json.loads((out / "summary.json").read_text())
    assert again["tasks"]["sample"]["model"] == summary["tasks"]["sample"]["model"]


def test_tasks_validate_reports_and_bad_definitions_fail_clearly(tmp_path, capsys):
    from medforge.paths import assets_dir

    task = tmp_path / "t.yaml"
    task.write_text(TASK.format(root=assets_dir() / "sample" / "ner"))
    assert run_cli("tasks", "validate", str(task)) == 0
    assert "sample: valid, " in capsys.readouterr().out
    task.write_text(TASK.format(root=assets_dir() / "sample" / "ner") + "scheme: bioul\n")
    assert run_cli("tasks", "validate", str(task)) == 2
    assert "'scheme' 'bioul' is not one of iob1, iob2, iobes, bilou" in capsys.readouterr().err
    assert run_cli("tasks", "validate", "no-such-task") == 2
    assert "built-in tasks: bc5cdr, e3c" in capsys.readouterr().err
    assert run_cli("evaluate", "somemodel") == 2
    assert "--tasks is required" in capsys.readouterr().err
