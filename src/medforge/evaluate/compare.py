"""Every model against the first, per task: a paired bootstrap over test examples (each drawn example
carries every seed's predictions of both models) and a permutation test over the per-seed headline
scores. How a kind's predictions are read and resampled comes from its registry entry."""

from __future__ import annotations

import json
from pathlib import Path

from medforge.errors import MedforgeError
from medforge.evaluate.stats import paired_bootstrap, paired_bootstrap_metric, permutation_test
from medforge.tasks.kinds import kind_of


def compare(summary: dict, models: list[str], out: Path) -> dict:
    if len(models) < 2:
        return {}
    comparisons = {}
    for task, by_model in summary.items():
        base = models[0]
        if base not in by_model:
            continue
        rows = []
        for other in models[1:]:
            if other in by_model:
                rows.append(_against(out / task, base, other, by_model[base], by_model[other]))
        comparisons[task] = rows
    return comparisons


def _against(folder: Path, base: str, other: str, entry: dict, other_entry: dict) -> dict:
    kind = kind_of(entry["type"])
    read = kind.call("predictions")
    shared = sorted(set(entry["seeds"]) & set(other_entry["seeds"]))
    gold, preds_a, preds_b = None, [], []
    for seed in shared:  # one list of predictions per seed: the bootstrap resamples test examples
        g, a = read(folder / base / f"seed-{seed}")
        g_other, b = read(folder / other / f"seed-{seed}")
        gold = g if gold is None else gold
        if g != gold or g_other != gold:
            raise MedforgeError(f"{folder}: the test sets of seed {seed} and of the other runs differ; rerun the "
                                "evaluation into an empty folder")
        preds_a.append(a)
        preds_b.append(b)
    # the label set the runs were scored on (frozen from train), and the label left out of F1
    results = json.loads((folder / base / f"seed-{shared[0]}" / "results.json").read_text(encoding="utf-8"))
    labels, negative = results["labels"], results["settings"]["task"].get("negative_label", "")
    headline = entry["headline"]
    return {"model": other, "baseline": base, "seeds": shared, "metric": headline,
            "bootstrap": kind.call("bootstrap")(gold, preds_a, preds_b, labels, headline, kind, negative),
            "permutation": permutation_test(entry["test"][headline]["values"],
                                            other_entry["test"][headline]["values"])}


def ner_predictions(folder: Path) -> tuple[list, list]:
    from medforge.tasks.conll import read_predictions

    return read_predictions(folder / "test.conll")


def label_predictions(folder: Path) -> tuple[list, list]:
    rows = [json.loads(line) for line in (folder / "test.jsonl").read_text(encoding="utf-8").splitlines()]
    return [tuple(r["gold"]) for r in rows], [tuple(r["pred"]) for r in rows]


def bootstrap_ner(gold: list, preds_a: list, preds_b: list, labels: list[str], metric: str, kind=None,
                  negative: str = "") -> dict:
    """Strict entity F1, from per-sentence counts (fast: no seqeval call per resample)."""
    return paired_bootstrap(gold, preds_a, preds_b)


def bootstrap_labels(gold: list, preds_a: list, preds_b: list, labels: list[str], metric: str, kind,
                     negative: str = "") -> dict:
    """Labelled kinds (and scored pairs): the task's headline metric, computed by the kind's scorer, on each
    resample of the test examples."""
    scorer = kind.call("scorer")

    def score(pred: list, indices) -> float:
        return scorer([gold[i] for i in indices], [pred[i] for i in indices], labels, negative)[metric]

    return paired_bootstrap_metric(score, preds_a, preds_b, len(gold))
