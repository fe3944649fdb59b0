"""``medforge benchmark MODEL... --suite``: a suite of two tasks (NER and sentence-pair similarity) with tiny
models, its score recomputed by hand from the per-task results, the leaderboard, and the failures that must
come before any fine-tuning."""

from __future__ import annotations

import json
import random
import re
import statistics

import pytest

from medforge.models.presets import build_mlm
from medforge.paths import assets_dir
from tests_shared import run_cli

NER = """name: sample-ner
train: {root}/train.conll
dev: {root}/dev.conll
test: {root}/test.conll
max_length: 64
"""
PAIRS = """name: pairs
type: similarity
format: jsonl
train: pairs/train.jsonl
dev: pairs/dev.jsonl
test: pairs/test.jsonl
text_column: a
text_pair_column: b
label_column: score
max_length: 48
"""
SUITE = """name: two
description: a sample NER task and a similarity task
aggregation: type_macro
groups:
  named entity recognition: [ner.yaml]
  similarity: [pairs.yaml]
lacks: [everything else]
protocol:
  seeds: 2
  epochs: 1
  batch_size: 8
  learning_rates: [1.0e-3, 3.0e-3]
"""


@pytest.fixture(scope="module")
def models(tmp_path_factory, tiny_tokenizer):
    found = []
    for name, seed in (("alpha", 0), ("beta", 1)):
        import torch

        torch.manual_seed(seed)
        folder = tmp_path_factory.mktemp("models") / name
        build_mlm("roberta", "tiny", tiny_tokenizer, 64).save_pretrained(folder)
        tiny_tokenizer.save_pretrained(folder)
        found.append(folder)
    return found


@pytest.fixture
def suite_dir(tmp_path):
    rng = random.Random(0)
    words = "fever cough pain dose liver kidney heart scan".split()
    (tmp_path / "pairs").mkdir()
    for split, n in (("train", 40), ("dev", 16), ("test", 16)):
        rows = []
        for _ in range(n):
            a, b = (" ".join(rng.choice(words) for _ in range(6)) for _ in range(2))
            rows.append({"a": a, "b": b, "score": len(set(a.split()) & set(b.split()))})
        (tmp_path / "pairs" / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tmp_path / "ner.yaml").write_text(NER.format(root=assets_dir() / "sample" / "ner"))
    (tmp_path / "pairs.yaml").write_text(PAIRS)
    (tmp_path / "two.yaml").write_text(SUITE)
    return tmp_path


def test_a_suite_runs_scores_as_its_aggregation_and_fills_the_leaderboard(models, suite_dir, tmp_path, capsys):
    board, out = tmp_path / "board.jsonl", tmp_path / "out"
    args = ["benchmark", *map(str, models), "--suite", str(suite_dir / "two.yaml"), "--out", str(out),
            "--leaderboard", str(board)]
    assert run_cli(*args) == 0
    printed = capsys.readouterr().out
    assert "# Suite two" in printed and "Not in this suite" in printed
    record = json.loads((out / "suite.json").read_text())
    assert (out / "suite.png").read_bytes()[:4] == b"\x89PNG"
    assert (out / "pairs" / "alpha" / "grid" / "grid.json").is_file()
    for model in ("alpha", "beta"):
        per_seed = []
        for seed in (42, 43):
            ner = json.loads((out / "ner" / model / f"seed-{seed}" / "results.json").read_text())
            pairs = json.loads((out / "pairs" / model / f"seed-{seed}" / "results.json").read_text())
            assert pairs["settings"]["hp"]["learning_rate"] in (1e-3, 3e-3)  # chosen on dev by the grid
            per_seed.append((ner["test"]["f1"] + pairs["test"]["pearson"]) / 2)  # one task per group
        score = record["scores"][model]["score"]
        assert score["mean"] == pytest.approx(statistics.fmean(per_seed))
        assert score["std"] == pytest.approx(statistics.stdev(per_seed))

    entries = [json.loads(line) for line in board.read_text().splitlines()]
    assert [e["model"] for e in entries] == ["alpha", "beta"] and len({e["protocol"] for e in entries}) == 1
    assert run_cli("leaderboard", "--file", str(board)) == 0
    table = capsys.readouterr().out
    best = max(entries, key=lambda e: e["score"]["mean"])["model"]
    assert f"| 1 | {best} |" in table and "Not ranked" not in table

    # another protocol (one seed): its own table, said to be not comparable
    assert run_cli(*args[:-2], "--leaderboard", str(board), "--seeds", "1", "--out", str(tmp_path / "one")) == 0
    capsys.readouterr()
    assert run_cli("leaderboard", "--file", str(board), "--suite", "two") == 0
    table = capsys.readouterr().out
    assert table.count("## two (protocol") == 2 and "Not ranked with the runs of protocol" in table
    assert "(1 seed)" in table
    assert run_cli("leaderboard", "--file", str(board), "--csv") == 0
    assert capsys.readouterr().out.startswith("suite,protocol,rank,model")


def test_a_missing_task_file_fails_the_suite_before_any_fine_tuning(models, suite_dir, tmp_path, capsys):
    (suite_dir / "pairs" / "test.jsonl").unlink()
    assert run_cli("benchmark", str(models[0]), "--suite", str(suite_dir / "two.yaml"), "--out", str(tmp_path / "o"),
                   "--leaderboard", str(tmp_path / "b.jsonl")) != 0
    assert re.search(r"suite two: task pairs \(test\) needs \S*pairs/test.jsonl", capsys.readouterr().err)
    assert not (tmp_path / "o" / "ner").exists()


def test_the_built_in_suites_list_their_tasks_protocol_and_gaps(capsys):
    assert run_cli("suites", "ls") == 0
    printed = capsys.readouterr().out
    for name in ("en-biomed", "fr-biomed", "ja-clinical"):
        assert printed.count(f"{name} (") == 1
    assert "lacks:" in printed and "BIOSSES" in printed and "learning_rates [2e-05, 5e-05]" in printed


def test_the_evaluate_stage_runs_a_suite_under_its_protocol(models, suite_dir, tmp_path):
    from medforge.evaluate.config import EvaluateConfig
    from medforge.evaluate.stage import run
    from medforge.stage import StageContext

    out = tmp_path / "evaluate"
    out.mkdir()
    cfg = EvaluateConfig(model=str(models[0]), suite=str(suite_dir / "two.yaml"), seeds=5, epochs=9)
    summary = run(cfg, StageContext(run_dir=tmp_path, out=out, seed=7, upstream={}))
    document = json.loads((out / "results.json").read_text())
    assert document["seeds"] == [7, 8] and set(summary) == {"ner", "pairs"}  # the suite's 2 seeds, not 5
    assert document["suite"]["protocol"]["settings"]["epochs"] == 1 and (out / "suite.md").is_file()
    assert document["suite"]["scores"]["model"]["score"]["n"] == 2
