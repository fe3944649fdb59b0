"""Runs (task x model x seed) summarised as mean ± std, and the comparison tables: tasks and metrics
as rows, models as columns, best mean in bold, an average row; Markdown, LaTeX, CSV and a PNG chart."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from medforge.evaluate.stats import mean_std
from medforge.tasks.kinds import kind_of
from medforge.tasks.metrics import PROTOCOL


def metric_label(kind: str, key: str) -> str:
    """The name of a metric in its task kind (the registry's): one name per kind and metric, so accuracy is
    "accuracy" for classification and "exact match" for multi-label (starred: other papers' conventions)."""
    return kind_of(kind).metric_label(key)


FOOTNOTE = (f"NER headline: {PROTOCOL}; classification: the task's headline metric (multi-label at a 0.5 "
            "threshold); best epoch on validation, mean ± std over seeds. *Reported for comparison with other "
            "literature: seqeval's default (lenient) mode, and token-level F1 averaged with support weights, O "
            "included (DrBERT-style).")


def pct(x: float) -> str:
    return f"{100 * x:.2f}"


def metric_keys(kind: str, headline: str) -> list[str]:
    return [headline] + [k for k, _ in kind_of(kind).metrics if k != headline]


def run_metrics(split_scores: dict) -> dict:
    flat = {k: v for k, v in split_scores.items() if isinstance(v, (int, float))}
    if "lenient" in split_scores:
        flat["lenient_f1"] = split_scores["lenient"]["f1"]
    return flat


def summarize(runs: list[dict]) -> dict:
    """{task: {model: {"test": {metric: mean_std}, "dev": {...}, "per_label_f1": {...}, "seeds": [...]}}}"""
    grouped: dict[str, dict[str, list[dict]]] = {}
    for r in runs:
        grouped.setdefault(r["task"], {}).setdefault(r["model_name"], []).append(r)
    out: dict = {}
    for task, models in grouped.items():
        for model, rs in models.items():
            rs = sorted(rs, key=lambda r: r["seed"])
            kind, headline = rs[0].get("type", "ner"), rs[0].get("headline", "f1")
            keys = metric_keys(kind, headline)
            entry: dict[str, Any] = {split: {key: mean_std([run_metrics(r[split])[key] for r in rs]) for key in keys}
                                     for split in ("dev", "test")}
            per = [r["test"].get("per_type") or r["test"].get("per_label") or {} for r in rs]
            entry["per_label_f1"] = {t: mean_std([p.get(t, {"f1": 0.0})["f1"] for p in per])
                                     for t in sorted({t for p in per for t in p})}
            entry.update(type=kind, headline=headline, metrics=keys, seeds=[r["seed"] for r in rs],
                         best_epochs=[r["best_epoch"] for r in rs], model=rs[0]["model"])
            out.setdefault(task, {})[model] = entry
    return out


def _first(summary: dict, task: str) -> dict:
    return next(iter(summary[task].values()))


def _rows(summary: dict, models: list[str]) -> list[tuple[str, str, list[dict | None]]]:
    rows = []
    for task in summary:
        first = _first(summary, task)
        for key in first["metrics"]:
            rows.append((task, metric_label(first["type"], key),
                         [summary[task].get(m, {}).get("test", {}).get(key) for m in models]))
    if len(summary) > 1:
        averages = []
        for m in models:
            means = [summary[t][m]["test"][summary[t][m]["headline"]]["mean"] for t in summary if m in summary[t]]
            averages.append({"mean": sum(means) / len(means), "std": None} if len(means) == len(summary) else None)
        rows.append(("average", "headline", averages))
    return rows


def spread(value: dict) -> str:
    """" ± std" over seeds; a single run has no spread to show (not "± 0.00")."""
    if value.get("n") == 1:
        return " (1 seed)"
    return f" ± {pct(value['std'])}" if value.get("std") is not None else ""


def _cell(value: dict | None, best: bool, bold: tuple[str, str]) -> str:
    if value is None:
        return "–"
    text = pct(value["mean"]) + spread(value)
    return f"{bold[0]}{text}{bold[1]}" if best else text


def _best(values: list[dict | None]) -> float | None:
    means = [v["mean"] for v in values if v is not None]
    return max(means) if len(means) > 1 else None


def markdown_table(summary: dict, models: list[str]) -> str:
    lines = ["| task | metric | " + " | ".join(models) + " |", "|---|---|" + "---|" * len(models)]
    for task, label, values in _rows(summary, models):
        top = _best(values)
        cells = [_cell(v, v is not None and v["mean"] == top, ("**", "**")) for v in values]
        lines.append(f"| {task} | {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def latex_table(summary: dict, models: list[str]) -> str:
    def esc(text: str) -> str:
        return text.replace("_", r"\_").replace("%", r"\%").replace("&", r"\&").replace("#", r"\#")

    lines = [r"\begin{tabular}{ll" + "c" * len(models) + "}", r"\toprule",
             "Task & Metric & " + " & ".join(esc(m) for m in models) + r" \\", r"\midrule"]
    for task, label, values in _rows(summary, models):
        top = _best(values)
        cells = [_cell(v, v is not None and v["mean"] == top, (r"\textbf{", "}")).replace("±", r"$\pm$")
                 for v in values]
        lines.append(f"{esc(task)} & {esc(label)} & " + " & ".join(cells) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    return "\n".join(lines)


def write_csv(summary: dict, models: list[str], path: Path) -> None:
    with Path(path).open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["task", "metric", "model", "mean", "std", "n"])
        for task, label, values in _rows(summary, models):
            for model, v in zip(models, values):
                if v is not None:
                    writer.writerow([task, label, model, f"{v['mean']:.6f}",
                                     "" if v.get("std") is None else f"{v['std']:.6f}", v.get("n", "")])


def plot(summary: dict, models: list[str], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks = list(summary)
    width = 0.8 / max(len(models), 1)
    fig, ax = plt.subplots(figsize=(max(4, 1.6 * len(tasks) * max(1, len(models) / 2)), 3.5))
    for i, model in enumerate(models):
        xs = [t + i * width for t in range(len(tasks))]
        cells = [summary[t][model]["test"][summary[t][model]["headline"]] if model in summary[t] else None
                 for t in tasks]
        means = [100 * c["mean"] if c else 0 for c in cells]
        stds = [100 * c["std"] if c else 0 for c in cells]
        ax.bar(xs, means, width, yerr=stds, capsize=3, label=model)
    ax.set_xticks([t + width * (len(models) - 1) / 2 for t in range(len(tasks))],
                  [f"{t}\n{metric_label(_first(summary, t)['type'], _first(summary, t)['headline'])}" for t in tasks])
    ax.set_ylabel("test score, headline metric (%)")
    ax.set_title("mean ± std over seeds")
    ax.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write_reports(summary: dict, comparisons: dict, models: list[str], out: Path) -> None:
    """comparison.{md,tex,csv,png}."""
    lines = ["# Evaluation", "", FOOTNOTE, "", markdown_table(summary, models), ""]
    for task, rows in comparisons.items():
        lines += [f"## {task}: against {rows[0]['baseline']}", "",
                  "| model | Δ headline (test) | bootstrap p (test examples) | 95% interval | permutation p (seeds) "
                  "| smallest possible permutation p |",
                  "|---|---|---|---|---|---|"]
        for row in rows:
            b, p = row["bootstrap"], row["permutation"]
            lines.append(f"| {row['model']} | {100 * b['delta']:+.2f} | {b['p_value']:.4f} | "
                         f"[{100 * b['ci95'][0]:+.2f}, {100 * b['ci95'][1]:+.2f}] | {p['p_value']:.4f} | "
                         f"{p['min_p_value']:.4f} |")
        lines += ["", "The bootstrap resamples test examples, each carrying every seed's predictions of both models "
                  "(seeds add no test examples); the permutation test relabels the per-seed scores, so with few "
                  "seeds it cannot go below its smallest possible p (0.3333 with 2 seeds a model, 0.1000 with 3).",
                  ""]
    for task, by_model in summary.items():
        lines += [f"## {task}: test F1 per {'entity type' if _first(summary, task)['type'] == 'ner' else 'label'}",
                  "", "| type | " + " | ".join(models) + " |", "|---|" + "---|" * len(models)]
        types = sorted({t for m in by_model.values() for t in m["per_label_f1"]})
        for t in types:
            lines.append(f"| {t} | " + " | ".join(_cell(by_model[m]["per_label_f1"].get(t), False, ("", ""))
                                                  if m in by_model else "–" for m in models) + " |")
        lines.append("")
    (out / "comparison.md").write_text("\n".join(lines), encoding="utf-8")
    (out / "comparison.tex").write_text(latex_table(summary, models) + "\n", encoding="utf-8")
    write_csv(summary, models, out / "comparison.csv")
    plot(summary, models, out / "comparison.png")
