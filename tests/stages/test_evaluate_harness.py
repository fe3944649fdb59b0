"""``medforge evaluate MODEL... --tasks ...``: two models x one task x two seeds, compared."""

from __future__ import annotations

import csv
import json
import shutil

import pytest
from transformers import AutoTokenizer

from medforge.models.presets import build_mlm
from tests_shared import TINY, finished_run, run_cli

TASK = """name: sample
language: en
train: {root}/train.conll
dev: {root}/dev.conll
test: {root}/test.conll
max_length: 64
"""


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    run = finished_run(tmp_path_factory, "harness", *TINY)
    folder = run.parent
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
    args = ["benchmark", *map(str, models), "--tasks", str(task), "--seeds", "2", "--out", str(out),
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
    assert "sample: valid ner task, " in capsys.readouterr().out
    task.write_text(TASK.format(root=assets_dir() / "sample" / "ner") + "scheme: bioul\n")
    assert run_cli("tasks", "validate", str(task)) == 2
    assert "'scheme' 'bioul' is not one of iob1, iob2, iobes, bilou" in capsys.readouterr().err
    assert run_cli("tasks", "validate", "no-such-task") == 2
    assert "built-in tasks: bc5cdr, chemprot, e3c" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        run_cli("benchmark", "somemodel")
    assert exit_.value.code == 2 and "one of the arguments --tasks --suite is required" in capsys.readouterr().err


def write_classification_tasks(folder):
    """Single- and multi-label tasks made from the sample's NER sentences: the entity types they hold."""
    from medforge.paths import assets_dir
    from medforge.tasks.conll import read_conll

    for split in ("train", "dev", "test"):
        rows = ["text\ttypes"]
        for s in read_conll(assets_dir() / "sample" / "ner" / f"{split}.conll").sentences:
            types = sorted({t[2:] for t in s.tags if t != "O"})
            rows.append(" ".join(s.tokens) + "\t" + "|".join(types))
        (folder / f"{split}.tsv").write_text("\n".join(rows) + "\n")
        jsonl = [json.dumps({"text": row.split("\t")[0], "label": (row.split("\t")[1].split("|")[0] or "none")})
                 for row in rows[1:]]
        (folder / f"{split}.jsonl").write_text("\n".join(jsonl) + "\n")
    common = "train: train.{ext}\ndev: dev.{ext}\ntest: test.{ext}\nmax_length: 64\n"
    (folder / "multi.yaml").write_text("name: types\ntype: multilabel\nformat: tsv\nlabel_column: types\n"
                                       + common.format(ext="tsv"))
    (folder / "single.yaml").write_text("name: first-type\ntype: classification\nformat: jsonl\n"
                                        + common.format(ext="jsonl"))
    return [folder / "multi.yaml", folder / "single.yaml"]


def test_classification_and_multilabel_tasks_run_compare_and_tabulate(models, tmp_path):
    tasks = write_classification_tasks(tmp_path)
    out = tmp_path / "eval"
    assert run_cli("benchmark", *map(str, models), "--tasks", *map(str, tasks), "--seeds", "2", "--out", str(out),
                   "--set", "epochs=3", "max_steps=40", "learning_rate=2e-3") == 0
    summary = json.loads((out / "summary.json").read_text())
    multi, single = summary["tasks"]["types"]["model"], summary["tasks"]["first-type"]["model"]
    assert multi["headline"] == "micro_f1" and single["headline"] == "macro_f1"
    assert single["test"]["accuracy"]["mean"] > 0.3  # the pre-trained tiny model learns something
    run = json.loads((out / "types" / "model" / "seed-42" / "results.json").read_text())
    assert run["type"] == "multilabel" and run["truncated"]["test"] == 0
    assert [h["steps"] for h in run["history"]] == [17, 17, 6]  # 260 sentences in batches of 16, 40 steps
    assert set(run["test"]["per_label"]) == {"ANATOMY", "DISEASE", "DRUG"}
    rows = summary["comparisons"]["first-type"][0]
    assert rows["metric"] == "macro_f1" and 0 <= rows["bootstrap"]["p_value"] <= 1
    md = (out / "comparison.md").read_text()
    assert "| types | micro F1 |" in md and "| first-type | macro F1 |" in md and "| average | headline |" in md


def test_search_picks_hyperparameters_on_dev_then_runs_the_seeds_there_and_resumes(models, tmp_path, caplog):
    from medforge.paths import assets_dir

    task = tmp_path / "sample.yaml"
    task.write_text(TASK.format(root=assets_dir() / "sample" / "ner"))
    out = tmp_path / "eval"
    args = ["benchmark", str(models[0]), "--tasks", str(task), "--seeds", "1", "--out", str(out),
            "--set", "epochs=2", "learning_rate=2e-3", "label_all_subwords=true", "search_trials=3"]
    assert run_cli(*args) == 0
    record = json.loads((out / "sample" / "model" / "search" / "search.json").read_text())
    assert len(record["trials"]) == 3 and record["metric"] == "f1"
    assert record["best"]["dev"] == max(t["dev"] for t in record["trials"])
    params = record["best"]["params"]
    assert 2e-4 <= params["learning_rate"] <= 2e-2 and 1 <= params["epochs"] <= 4
    run = json.loads((out / "sample" / "model" / "seed-42" / "results.json").read_text())
    # the seed ran at the best trial
    assert run["settings"]["hp"] == {**params, "weight_decay": 0.01, "label_all_subwords": True, "max_steps": 0}

    caplog.clear()
    assert run_cli(*args[:-1], "search_trials=4") == 0  # one more trial; the three are kept
    assert "3 search trials done before, kept" in caplog.text
    assert len(json.loads((out / "sample" / "model" / "search" / "search.json").read_text())["trials"]) == 4


def test_a_task_longer_than_the_model_positions_is_windowed_at_the_model_length(models, tmp_path):
    """max_length 512 on a model of 64 positions crashed in the embeddings (index out of range)."""
    root = tmp_path / "data"
    root.mkdir()
    words = ("The patient received aspirin and paracetamol after the pneumonia was diagnosed in hospital " * 6).split()
    sentence = "\n".join(f"{w}\t{'B-DRUG' if w in ('aspirin', 'paracetamol') else 'O'}" for w in words) + "\n\n"
    for split in ("train", "dev", "test"):
        (root / f"{split}.conll").write_text(sentence * 4)
    task = tmp_path / "long.yaml"
    task.write_text(TASK.format(root=root).replace("name: sample", "name: long").replace("max_length: 64",
                                                                                          "max_length: 512"))
    out = tmp_path / "eval"
    assert run_cli("benchmark", str(models[0]), "--tasks", str(task), "--seeds", "1", "--out", str(out),
                   "--set", "epochs=1") == 0
    results = json.loads((out / "long" / "model" / "seed-42" / "results.json").read_text())
    assert results["max_length"] == 64 and any("longer than the model's position embeddings" in n
                                               for n in results["notes"])
    predicted = [json.loads(line) for line in (out / "long" / "model" / "seed-42" / "test.jsonl").open()]
    assert all(len(p["pred"]) == len(words) for p in predicted)  # every word of the long sentence, once
