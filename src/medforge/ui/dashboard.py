"""The run dashboard: stage status from the markers, the corpus report's counts, training curves from
``metrics.jsonl``, the evaluation with its significance tests, and the model card, read from a run folder."""

from __future__ import annotations

import html
import json
from pathlib import Path

from medforge.ui.sources import stage_folders
from medforge.ui.views import error_box


def _json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def status(run: Path) -> str:
    from medforge.pipeline import MARKER, STARTED

    rows = []
    for name, dirname in stage_folders().items():
        folder = run / dirname
        done, started, meta = _json(folder / MARKER), _json(folder / STARTED), _json(folder / "meta.json") or {}
        state = "done" if done else "interrupted or running" if started else "not run"
        wall = meta.get("wall_time_s")
        rows.append(f'<tr data-stage="{name}" data-state="{state}"><td>{name}</td><td>{state}</td>'
                    f"<td>{html.escape((done or {}).get('finished', '')[:19].replace('T', ' '))}</td>"
                    f"<td>{'' if wall is None else f'{wall:.1f} s'}</td></tr>")
    return ('<table class="mf-status"><tr><th>stage</th><th>status</th><th>finished (UTC)</th><th>wall time</th></tr>'
            + "".join(rows) + "</table>")


def corpus(run: Path) -> str:
    report = _json(run / stage_folders()["prepare"] / "corpus_report.json")
    if report is None:
        return error_box(f"{run}: no corpus report (the prepare stage has not finished)")
    totals = report["totals"]
    facts = [("documents read", totals["read"]), ("kept", totals["kept"]), ("train", totals["kept_train"]),
             ("validation", totals["kept_validation"]), ("test", totals["kept_test"]), ("words", totals["words"]),
             ("exact duplicates", report["duplicates"]["exact"]), ("near duplicates", report["duplicates"]["near"]),
             ("kept documents holding personal data", totals["pii_documents_kept"])]
    facts += [(f"dropped: {reason}", n) for reason, n in totals["dropped"].items()]
    facts += [(f"personal data found: {kind}", n) for kind, n in totals["pii"].items()]
    rows = "".join(f'<tr data-fact="{html.escape(k)}" data-value="{v}"><td>{html.escape(k)}</td><td>{v:,}</td></tr>'
                   for k, v in facts)
    per_source = "".join(f"<tr><td>{html.escape(name)}</td><td>{s['read']:,}</td><td>"
                         f"{s['kept_train'] + s['kept_validation'] + s['kept_test']:,}</td></tr>"
                         for name, s in report["sources"].items())
    return (f'<table class="mf-report">{rows}</table><h4>per source</h4><table class="mf-report"><tr><th>source</th>'
            f"<th>read</th><th>kept</th></tr>{per_source}</table>")


def curves(run: Path):
    """(training rows, held-out rows) as pandas frames for Gradio's line plots; None when there are none."""
    import pandas as pd

    path = run / stage_folders()["pretrain"] / "metrics.jsonl"
    if not path.is_file():
        return None, None
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    train = pd.DataFrame([r for r in rows if "loss" in r])
    held = pd.DataFrame([r for r in rows if "eval_loss" in r])
    return (train if len(train) else None), (held if len(held) else None)


def evaluation(run: Path) -> tuple[str, str]:
    """(the test scores as a table, comparison.md with the significance tests)."""
    folder = run / stage_folders()["evaluate"]
    results = _json(folder / "results.json")
    if results is None:
        return error_box(f"{run}: no evaluation (the evaluate stage has not finished)"), ""
    from medforge.evaluate.report import metric_label, pct, spread

    rows = []
    for task, by_model in results["tasks"].items():
        for model, entry in by_model.items():
            score = entry["test"][entry["headline"]]
            rows.append(f'<tr data-task="{html.escape(task)}" data-model="{html.escape(model)}" '
                        f'data-metric="{entry["headline"]}" data-mean="{score["mean"]:.6f}">'
                        f"<td>{html.escape(task)}</td><td>{html.escape(model)}</td>"
                        f"<td>{metric_label(entry['type'], entry['headline'])}</td>"
                        f"<td>{pct(score['mean'])}{spread(score)}</td></tr>")
    table = ('<table class="mf-report mf-evaluation"><tr><th>task</th><th>model</th><th>metric</th><th>test</th></tr>'
             + "".join(rows) + "</table>")
    comparison = folder / "comparison.md"
    return table, (comparison.read_text(encoding="utf-8") if comparison.is_file() else "")


def card(run: Path) -> str:
    readme = run / stage_folders()["export"] / "README.md"
    if not readme.is_file():
        return "No model card: the export stage has not finished."
    text = readme.read_text(encoding="utf-8")
    if text.startswith("---"):  # the YAML metadata block is for the hub, not for reading
        text = text.split("---", 2)[2]
    return text
