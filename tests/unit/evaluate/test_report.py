import csv

import pytest

from medforge.evaluate.report import latex_table, markdown_table, summarize, write_csv


def scores(f1: float) -> dict:
    return {"precision": f1 + 0.1, "recall": f1 - 0.1, "f1": f1, "lenient": {"f1": f1 + 0.05},
            "token_weighted_f1_with_o": 0.95, "per_type": {"X": {"precision": f1, "recall": f1, "f1": f1,
                                                                  "support": 3}}}


def run(task, model, seed, f1):
    return {"task": task, "model_name": model, "model": f"/m/{model}", "seed": seed, "best_epoch": 1,
            "dev": scores(f1), "test": scores(f1)}


RUNS = [run("t1", "a", 1, 0.70), run("t1", "a", 2, 0.80), run("t1", "b", 1, 0.90), run("t1", "b", 2, 0.90),
        run("t_2", "a", 1, 0.50), run("t_2", "a", 2, 0.60), run("t_2", "b", 1, 0.40), run("t_2", "b", 2, 0.40)]


def test_summary_means_and_sample_std_per_task_and_model():
    summary = summarize(RUNS)
    a = summary["t1"]["a"]["test"]
    assert a["f1"]["mean"] == pytest.approx(0.75) and a["f1"]["std"] == pytest.approx(0.0707107, abs=1e-6)
    assert a["precision"]["mean"] == pytest.approx(0.85) and a["lenient_f1"]["mean"] == pytest.approx(0.80)
    assert summary["t1"]["b"]["test"]["f1"]["std"] == 0.0 and summary["t1"]["b"]["seeds"] == [1, 2]
    assert summary["t_2"]["a"]["per_label_f1"]["X"]["mean"] == pytest.approx(0.55)


def test_tables_bold_the_best_and_average_over_tasks(tmp_path):
    summary = summarize(RUNS)
    md = markdown_table(summary, ["a", "b"])
    assert "| t1 | F1 | 75.00 ± 7.07 | **90.00 ± 0.00** |" in md
    assert "| t_2 | F1 | **55.00 ± 7.07** | 40.00 ± 0.00 |" in md
    assert "| average | headline | **65.00** | **65.00** |" in md  # a tie: both bold
    tex = latex_table(summary, ["a", "b"])
    assert r"t\_2 & F1 & \textbf{55.00 $\pm$ 7.07} & 40.00 $\pm$ 0.00 \\" in tex
    write_csv(summary, ["a", "b"], tmp_path / "c.csv")
    rows = list(csv.DictReader((tmp_path / "c.csv").open()))
    first = next(r for r in rows if r["task"] == "t1" and r["metric"] == "F1" and r["model"] == "a")
    assert float(first["mean"]) == pytest.approx(0.75) and first["n"] == "2"


def cls_run(task, kind, model, seed, value):
    metrics = {"macro_f1": value, "micro_f1": value, "accuracy": value, "per_label": {}}
    return {"task": task, "model_name": model, "model": f"/m/{model}", "seed": seed, "best_epoch": 1,
            "type": kind, "headline": "macro_f1" if kind == "classification" else "micro_f1",
            "dev": metrics, "test": metrics}


def test_each_kind_names_its_own_metrics(tmp_path):
    """Accuracy is "accuracy" for single-label classification; only multi-label calls it "exact match"."""
    summary = summarize([cls_run("chem", "classification", "a", 1, 0.5), cls_run("chem", "classification", "a", 2, 0.6),
                         cls_run("hoc", "multilabel", "a", 1, 0.3), cls_run("hoc", "multilabel", "a", 2, 0.4)])
    md = markdown_table(summary, ["a"])
    assert "| chem | accuracy |" in md and "| hoc | exact match |" in md and "| chem | exact match |" not in md
    assert r"chem & accuracy &" in latex_table(summary, ["a"])
    write_csv(summary, ["a"], tmp_path / "c.csv")
    assert {(r["task"], r["metric"]) for r in csv.DictReader((tmp_path / "c.csv").open())} >= {
        ("chem", "accuracy"), ("hoc", "exact match")}


def test_a_single_seed_is_flagged_not_shown_with_a_zero_spread():
    md = markdown_table(summarize([run("t1", "a", 1, 0.70)]), ["a"])
    assert "| t1 | F1 | 70.00 (1 seed) |" in md and "± 0.00" not in md


def test_the_comparison_shows_the_permutation_floor(tmp_path):
    from medforge.evaluate.report import write_reports
    from medforge.evaluate.stats import permutation_test

    assert permutation_test([0.1, 0.2], [0.3, 0.4])["min_p_value"] == pytest.approx(1 / 3)
    assert permutation_test([0.1, 0.2, 0.3], [0.4, 0.5, 0.6])["min_p_value"] == pytest.approx(0.1)
    summary = summarize(RUNS)
    comparisons = {"t1": [{"model": "b", "baseline": "a", "bootstrap": {"delta": 0.15, "p_value": 0.01,
                                                                           "ci95": [0.1, 0.2]},
                           "permutation": permutation_test([0.7, 0.8], [0.9, 0.9])}]}
    write_reports(summary, comparisons, ["a", "b"], tmp_path)
    md = (tmp_path / "comparison.md").read_text()
    assert "smallest possible permutation p" in md and "| 0.3333 |" in md
