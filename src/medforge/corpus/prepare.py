"""The prepare stage: read every input, normalise, drop empty documents, split by document.

Every document read is accounted for: kept (in one split) or dropped with a reason, per source.
"""

from __future__ import annotations

from collections import Counter

from medforge import log, meta, paths
from medforge.progress import bar
from medforge.corpus.config import PrepareConfig
from medforge.corpus.normalize import normalize
from medforge.corpus.readers import read_documents
from medforge.corpus.split import assign
from medforge.corpus.store import SPLITS, SplitWriter
from medforge.errors import InputError

logger = log.get("prepare")


def run(cfg: PrepareConfig, ctx) -> dict:
    for path in cfg.inputs:  # fail on a missing file before writing anything
        if not paths.resolve(path).is_file():
            raise InputError(f"{paths.resolve(path)}: corpus file not found; fix 'prepare.inputs'")
    writers = {split: SplitWriter(ctx.out, split) for split in SPLITS}
    sources = {}
    totals: Counter = Counter()
    try:
        for path in cfg.inputs:
            counts: Counter = Counter()
            for lineno, raw in bar(read_documents(path, cfg.text_field), desc=f"prepare {path}",
                                   unit=" docs", leave=False):
                counts["read"] += 1
                text = normalize(raw, cfg.normalization)
                if not text:
                    counts["dropped_empty"] += 1
                    continue
                split = assign(text, ctx.seed, cfg.validation_fraction)
                writers[split].add(text, str(path), lineno)
                counts[f"kept_{split}"] += 1
                counts["characters"] += len(text)
                counts["words"] += len(text.split())
            sources[str(path)] = dict(counts)
            totals.update(counts)
    finally:
        for writer in writers.values():
            writer.close()
    kept = totals["kept_train"] + totals["kept_validation"]
    if kept == 0:
        raise InputError(f"empty corpus: no document left in {', '.join(map(str, cfg.inputs))} "
                         f"({totals['read']} read, {totals['dropped_empty']} empty); add text to 'prepare.inputs'")
    if totals["kept_train"] == 0:
        raise InputError(f"every document went to validation ({kept} kept); lower "
                         f"'prepare.validation_fraction' or add documents")
    assert totals["read"] == kept + totals["dropped_empty"], "a document was neither kept nor counted as dropped"
    stats = {"sources": sources, "totals": dict(totals),
             "splits": {s: totals[f"kept_{s}"] for s in SPLITS}}
    meta.write_json(ctx.out / "stats.json", stats)
    logger.info("corpus: %d documents read, %d kept (train %d, validation %d), %d empty dropped",
                totals["read"], kept, totals["kept_train"], totals["kept_validation"], totals["dropped_empty"])
    if totals["kept_validation"] == 0:
        logger.warning("the validation split is empty: held-out loss cannot be measured; "
                       "raise 'prepare.validation_fraction' or add documents")
    return stats
