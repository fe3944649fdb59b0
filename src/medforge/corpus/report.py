"""``corpus_report.json`` and ``corpus_report.md``: what went in, what came out, what was dropped and why.

The training-data table (corpus, details, size), in the style of CamemBERT-bio's model card, is
written here once and reused by the model card.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path

from medforge import meta

TOKENS_PER_WORD = 1.3  # a rough subword estimate for spaced languages (words are characters / 2 otherwise)
CLUSTERS_LISTED = 20


def _size(words: int, characters: int) -> str:
    mb = characters / 1e6
    if words >= 1e5:
        return f"{words / 1e6:.2f}M words, {mb:.1f}M characters"
    return f"{words:,} words, {characters:,} characters"


def _clusters(folder: Path) -> tuple[Counter, list[dict]]:
    """Removed duplicates by kind, and the largest clusters (kept document and what repeated it). Two
    passes over the files, a line at a time: sizes first, then the entries of the largest clusters only
    (holding every removed document's entry grew the stage's memory with the corpus's duplicates)."""
    kinds: Counter = Counter()
    sizes: Counter = Counter()  # kept index -> removed documents; insertion order = first appearance
    for entry in _entries(folder):
        kinds[entry["kind"]] += 1
        sizes[entry["kept_index"]] += 1
    listed = sorted(sizes, key=lambda k: -sizes[k])[:CLUSTERS_LISTED]
    groups: dict[int, dict] = {k: {} for k in listed}
    for entry in _entries(folder):
        group = groups.get(entry["kept_index"])
        if group is not None:
            group.setdefault("kept", entry["kept"])
            group.setdefault("removed", []).append({"document": entry["removed"], "kind": entry["kind"],
                                                    "similarity": entry["similarity"]})
    return kinds, list(groups.values())


def _entries(folder: Path) -> Iterator[dict]:
    for path in sorted(folder.glob("clusters-*.jsonl")):
        with path.open(encoding="utf-8") as fh:
            yield from (json.loads(line) for line in fh if line.strip())


def write_report(out: Path, cfg, per_source: dict, rows: dict, shard_folder: Path) -> dict:
    totals: Counter = Counter()
    dropped: Counter = Counter()
    repaired: Counter = Counter()
    pii: Counter = Counter()
    languages: Counter = Counter()
    for data in per_source.values():
        data["kept"] = data["kept_train"] + data["kept_validation"] + data["kept_test"]
        data["estimated_tokens"] = round(data["words"] * TOKENS_PER_WORD)
        totals.update({k: data[k] for k in ("read", "kept", "kept_train", "kept_validation", "kept_test", "train_rows",
                                            "words", "characters", "estimated_tokens", "pii_documents_kept")})
        dropped.update(data["dropped"])
        repaired.update(data["repaired"])
        pii.update(data["pii"])
        languages.update(data["languages"])
    kinds, clusters = _clusters(shard_folder)
    training_data = [{"corpus": label, "details": data["details"] or _details(data),
                      "size": _size(data["words"], data["characters"])} for label, data in per_source.items()]
    report = {
        "sources": per_source,
        "totals": {**totals, "dropped": dict(dropped), "repaired": dict(repaired), "pii": dict(pii),
                   "languages": dict(languages)},
        "splits": {s: rows.get(s, 0) for s in ("train", "validation", "test")},
        "duplicates": {"exact": kinds["exact"], "near": kinds["near"], "largest_clusters": clusters},
        "pii": {"policy": cfg.pii_policy, "types": cfg.pii_types, "found": dict(pii),
                "documents_kept_with_pii": totals["pii_documents_kept"]},
        "training_data": training_data,
        "settings": asdict(cfg),
    }
    meta.write_json(out / "corpus_report.json", report)
    (out / "corpus_report.md").write_text(markdown(report), encoding="utf-8")
    return report


def _details(data: dict) -> str:
    origin = f"data set {data['hub_dataset']}" if data.get("hub_dataset") else f"{data['files']} files"
    return f"{data['kept']:,} documents ({origin})"


def _row(cells) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def markdown(report: dict) -> str:
    t = report["totals"]
    lines = ["# Corpus report", "",
             f"{t['read']:,} documents read, {t['kept']:,} kept (train {t['kept_train']:,}, validation "
             f"{t['kept_validation']:,}, test {t['kept_test']:,}; {t['train_rows']:,} training rows after sampling "
             f"weights), {t['words']:,} words, {t['characters']:,} characters, about {t['estimated_tokens']:,} tokens "
             f"(estimate: {TOKENS_PER_WORD} per word).", "",
             "## Training data", "", "| corpus | details | size |", "|---|---|---|"]
    lines += [_row((r["corpus"], r["details"], r["size"])) for r in report["training_data"]]
    lines += ["", "## Per source", "",
              "| source | read | kept (train / validation / test) | weight | words | characters | est. tokens |",
              "|---|---|---|---|---|---|---|"]
    for label, d in report["sources"].items():
        lines.append(_row((label, f"{d['read']:,}", f"{d['kept_train']:,} / {d['kept_validation']:,} / "
                                                    f"{d['kept_test']:,}", d["weight"], f"{d['words']:,}",
                           f"{d['characters']:,}", f"{d['estimated_tokens']:,}")))
    reasons = sorted({r for d in report["sources"].values() for r in d["dropped"]})
    lines += ["", "## Dropped documents, by reason", ""]
    if reasons:
        lines += ["| source | " + " | ".join(reasons) + " |", "|---|" + "---|" * len(reasons)]
        lines += [_row((label, *(d["dropped"].get(r, 0) for r in reasons))) for label, d in report["sources"].items()]
    else:
        lines.append("None.")
    repairs = sorted({r for d in report["sources"].values() for r in d["repaired"]})
    if repairs:
        lines += ["", "Repaired (kept, changed): " + "; ".join(f"{r} {t['repaired'][r]}" for r in repairs)]
    for label, d in report["sources"].items():
        for reason, where in d["first_positions"].items():
            lines.append(f"- {label}: first {reason}: {', '.join(where)}")
        for skipped in d["skipped_files"]:
            lines.append(f"- {label}: skipped {skipped['file']}: {skipped['reason']}")
    dup = report["duplicates"]
    lines += ["", "## Duplicates", "", f"Removed: {dup['exact']:,} exact, {dup['near']:,} near (MinHash, Jaccard >= "
              f"{report['settings']['near_threshold']}). The first document seen is kept.", ""]
    for cluster in dup["largest_clusters"][:10]:
        kept = cluster["kept"]
        lines.append(f"- kept {kept[0]} {Path(kept[1]).name}:{kept[2]}; removed {len(cluster['removed'])}: " +
                     ", ".join(f"{Path(r['document'][1]).name}:{r['document'][2]} ({r['kind']}, {r['similarity']})"
                               for r in cluster["removed"][:5]))
    pii = report["pii"]
    lines += ["", "## Personal data", "",
              f"Policy: {pii['policy']}; screened for {', '.join(pii['types'])}. Found: " +
              (", ".join(f"{k} {v}" for k, v in pii["found"].items()) or "nothing") +
              f". Kept documents still holding personal data: {pii['documents_kept_with_pii']}. Patterns miss what "
              "they have no pattern for (names without a title, rare identifiers).", ""]
    for label, d in report["sources"].items():
        for example in d["pii_examples"]:
            lines.append(f"- {label}: {example}")
    if t["languages"]:
        total = sum(t["languages"].values())
        lines += ["", "## Languages", "", "Identified with py3langid (on every document when filtering by language, "
                  "otherwise on a 1-in-20 sample): " +
                  ", ".join(f"{k} {100 * v / total:.1f}%" for k, v in Counter(t["languages"]).most_common(8))]
    return "\n".join(lines) + "\n"
