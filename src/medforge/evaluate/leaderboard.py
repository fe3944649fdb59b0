"""A leaderboard across suite runs: one JSON line per model and finished suite run, printed as Markdown
or CSV. Runs are ranked side by side only when they share a protocol (the tasks as defined, the
fine-tuning settings, the number of seeds): a suite run under another protocol is shown in its own
table, with the difference said, never silently mixed in.
"""

from __future__ import annotations

import csv
import io
import json
import os
from datetime import UTC, datetime
from pathlib import Path

from medforge import __version__, meta
from medforge.errors import InputError

ENV = "MEDFORGE_LEADERBOARD"
DEFAULT = "leaderboard.jsonl"


def default_path() -> Path:
    return Path(os.environ.get(ENV, DEFAULT))


def append(path: Path, record: dict, models: dict[str, str]) -> list[dict]:
    """One entry per model of a finished suite run (``record`` as ``suite.finish`` returns it)."""
    entries = []
    for name, score in record["scores"].items():
        entries.append({
            "suite": record["name"], "protocol": record["protocol"]["hash"],
            "settings": record["protocol"]["settings"], "seeds": record["protocol"]["seeds"],
            "model": name, "model_path": models[name], "model_fingerprint": meta.fingerprint(models[name])[:16],
            "score": {k: score["score"][k] for k in ("mean", "std", "n")},
            "tasks": {t: round(s["mean"], 6) for t, s in score["tasks"].items()},
            "date": datetime.now(UTC).isoformat(timespec="seconds"), "medforge": __version__})
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as fh:
        fh.writelines(json.dumps(e, ensure_ascii=False) + "\n" for e in entries)
    return entries


def read(path: Path) -> list[dict]:
    if not path.is_file():
        raise InputError(f"{path}: no leaderboard yet; run medforge benchmark MODEL... --suite NAME first")
    entries = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.strip():
            try:
                entries.append(json.loads(line))
            except json.JSONDecodeError as err:
                raise InputError(f"{path}:{number}: not a JSON line ({err.msg}); remove or repair it") from None
    return entries


def tables(entries: list[dict], suite: str | None = None) -> list[tuple[dict, list[dict]]]:
    """(heading facts, ranked rows) per suite and protocol; the latest run of a model under a protocol."""
    latest: dict[tuple, dict] = {}
    for e in entries:
        if suite is None or e["suite"] == suite:
            latest[(e["suite"], e["protocol"], e["model_fingerprint"], e["model"])] = e
    groups: dict[tuple, list[dict]] = {}
    for (s, protocol, _, _), e in latest.items():
        groups.setdefault((s, protocol), []).append(e)
    out = []
    for (s, protocol), rows in sorted(groups.items()):
        rows.sort(key=lambda e: -e["score"]["mean"])
        others = sorted({p for (t, p) in groups if t == s and p != protocol})
        out.append(({"suite": s, "protocol": protocol, "settings": rows[0]["settings"], "seeds": rows[0]["seeds"],
                     "other_protocols": others}, rows))
    return out


def markdown(entries: list[dict], suite: str | None = None) -> str:
    parts = []
    for head, rows in tables(entries, suite):
        tasks = list(rows[0]["tasks"])
        lines = [f"## {head['suite']} (protocol {head['protocol']}: {head['seeds']} seeds, "
                 f"{', '.join(f'{k} {v}' for k, v in head['settings'].items())})", ""]
        if head["other_protocols"]:
            lines += [f"Not ranked with the runs of protocol {', '.join(head['other_protocols'])}: their tasks or "
                      "fine-tuning settings differ, so their scores are not comparable with these.", ""]
        lines += ["| rank | model | suite score | " + " | ".join(tasks) + " | fingerprint | date |",
                  "|---|---|---|" + "---|" * len(tasks) + "---|---|"]
        for rank, e in enumerate(rows, start=1):
            score = e["score"]
            spread = f" ± {100 * score['std']:.2f}" if score["n"] > 1 else " (1 seed)"
            lines.append(f"| {rank} | {e['model']} | {100 * score['mean']:.2f}{spread} | " +
                         " | ".join(f"{100 * e['tasks'][t]:.2f}" if t in e["tasks"] else "–" for t in tasks) +
                         f" | {e['model_fingerprint'][:8]} | {e['date'][:10]} |")
        parts.append("\n".join(lines))
    return "\n\n".join(parts) + "\n" if parts else f"no run of suite {suite} in the leaderboard\n"


def as_csv(entries: list[dict], suite: str | None = None) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["suite", "protocol", "rank", "model", "score", "std", "seeds", "task", "task_score",
                     "fingerprint", "date"])
    for head, rows in tables(entries, suite):
        for rank, e in enumerate(rows, start=1):
            for task, value in e["tasks"].items():
                writer.writerow([head["suite"], head["protocol"], rank, e["model"], f"{e['score']['mean']:.6f}",
                                 f"{e['score']['std']:.6f}", e["score"]["n"], task, f"{value:.6f}",
                                 e["model_fingerprint"], e["date"]])
    return buffer.getvalue()
