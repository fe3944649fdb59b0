"""Results tables in Markdown: the headline score, then per entity type."""

from __future__ import annotations

from pathlib import Path


def pct(x: float) -> str:
    return f"{100 * x:.2f}"


def results_table(results: dict) -> str:
    """One row per split: the table the model card embeds."""
    lines = ["| task | split | precision | recall | F1 |", "|---|---|---|---|---|"]
    for split in ("dev", "test"):
        s = results[split]
        lines.append(f"| {results['task']} | {split} | {pct(s['precision'])} | {pct(s['recall'])} | {pct(s['f1'])} |")
    return "\n".join(lines)


def write_report(results: dict, path: Path) -> None:
    lines = [f"# {results['task']}: NER results", "",
             f"Protocol: {results['protocol']}; best epoch on validation F1: {results['best_epoch']}; "
             f"seed {results['seed']}.", "", results_table(results), "", "## Test, per entity type", "",
             "| type | precision | recall | F1 | support |", "|---|---|---|---|---|"]
    for name, s in sorted(results["test"]["per_type"].items()):
        lines.append(f"| {name} | {pct(s['precision'])} | {pct(s['recall'])} | {pct(s['f1'])} | {s['support']} |")
    Path(path).write_text("\n".join(lines) + "\n", encoding="utf-8")
