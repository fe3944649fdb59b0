"""The task engine's per-file work: one input file read, every document normalised, screened and hashed,
and the results written next to each other as a unit (Parquet rows, a signature matrix, a marker).

A unit is a pure function of its file and the settings that shape documents, so any machine can compute
it, a killed task can simply run again (files are renamed into place, the marker last), and a unit whose
marker matches is reused. The corpus-wide decisions (duplicates, shards) read the units in a fixed
global order afterwards, so the output does not depend on which task finished first.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from medforge import arrowcols, meta
from medforge import config as cfglib
from medforge.corpus.config import PrepareConfig, SourceConfig
from medforge.corpus.process import Processed, Processor
from medforge.corpus.readers import Counts, read_documents

COLUMNS = pa.schema([("position", pa.int64()), ("text", pa.string()), ("dropped", pa.string()),
                     ("repairs", pa.list_(pa.string())), ("pii_types", pa.list_(pa.string())),
                     ("pii_examples", pa.list_(pa.string())), ("key", pa.binary()), ("redacted_key", pa.binary()),
                     ("words", pa.int64()), ("language", pa.string()), ("has_signature", pa.bool_())])
ROWS_PER_GROUP = 4096
BATCH = 256  # documents processed together (their MinHash signatures in one computation)
# only what changes a unit's content: worker counts, addresses and resume are how, not what
_SHAPING_EXCLUDED = {*PrepareConfig.operational, "inputs", "sources", "shard_docs", "examples", "validation_fraction",
                     "test_fraction", "pii_max_fraction", "pii_allow"}


@dataclass
class Unit:
    """One file of one source, at its place in the global order."""

    index: int
    source: SourceConfig
    path: str

    def fingerprint(self, cfg: PrepareConfig) -> str:
        stat = os.stat(self.path)
        shaping = {k: v for k, v in cfglib.to_dict(cfg).items() if k not in _SHAPING_EXCLUDED}
        return meta.hash_json({"file": str(Path(self.path).resolve()), "size": stat.st_size,
                               "mtime": stat.st_mtime_ns, "prepare": shaping,
                               "source": {k: cfglib.to_dict(self.source)[k] for k in
                                          ("text_field", "text_column", "paragraphs")}})


def _names(work: Path, index: int) -> dict[str, Path]:
    stem = work / f"unit-{index:06d}"
    return {"rows": stem.with_suffix(".parquet"), "signatures": stem.with_suffix(".npy"),
            "marker": stem.with_suffix(".json")}


def done(work: Path, unit: Unit, fingerprint: str) -> dict | None:
    """The unit's marker if it was computed from this file with these settings."""
    try:
        marker = json.loads(_names(work, unit.index)["marker"].read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return marker if isinstance(marker, dict) and marker.get("fingerprint") == fingerprint else None


def process_unit(cfg: PrepareConfig, unit: Unit, work: str) -> dict:
    """Read, process and write one unit; return its marker (documents, reader counts)."""
    folder = Path(work)
    fingerprint = unit.fingerprint(cfg)
    marker = done(folder, unit, fingerprint)
    if marker is not None:
        return marker
    names = _names(folder, unit.index)
    tmp = {k: p.with_name(f".{p.name}.{os.getpid()}.tmp") for k, p in names.items()}
    processor = Processor(cfg)
    counts = Counts()
    signatures: list[np.ndarray] = []
    empty = np.zeros(cfg.num_perm, dtype=np.uint32)
    writer = pq.ParquetWriter(tmp["rows"], COLUMNS)
    rows: dict[str, list] = {name: [] for name in COLUMNS.names}
    n = 0

    def flush():
        if rows["position"]:
            writer.write_table(arrowcols.table(rows, COLUMNS))
            for values in rows.values():
                values.clear()

    def add(batch: list[tuple[int, str]]):
        for (position, _), doc in zip(batch, processor.batch([raw for _, raw in batch])):
            for name, value in zip(COLUMNS.names, (
                    position, doc.text, doc.dropped, doc.repairs, [t for t, _ in doc.pii], [x for _, x in doc.pii],
                    doc.key, doc.redacted_key, doc.words, doc.language, doc.signature is not None)):
                rows[name].append(value)
            signatures.append(empty if doc.signature is None else doc.signature)
        batch.clear()

    batch: list[tuple[int, str]] = []
    for document in read_documents(Path(unit.path), counts, text_field=unit.source.text_field,
                                   text_column=unit.source.text_column, paragraphs=unit.source.paragraphs,
                                   invalid_utf8=cfg.invalid_utf8):
        batch.append(document)
        n += 1
        if len(batch) == BATCH:  # a divisor of ROWS_PER_GROUP: row groups stay whole
            add(batch)
            if len(rows["position"]) == ROWS_PER_GROUP:
                flush()
    add(batch)
    flush()
    writer.close()
    with tmp["signatures"].open("wb") as fh:
        np.save(fh, np.array(signatures, dtype=np.uint32).reshape(n, cfg.num_perm))
    marker = {"fingerprint": fingerprint, "index": unit.index, "path": unit.path, "documents": n,
              "counts": {"dropped": dict(counts.dropped), "repaired": dict(counts.repaired),
                         "first_positions": counts.first_positions}}
    os.replace(tmp["rows"], names["rows"])
    os.replace(tmp["signatures"], names["signatures"])
    meta.write_json(names["marker"], marker)  # last: the unit is complete
    return marker


def merge_counts(into: Counts, marker: dict, kept: int = 5) -> None:
    """A unit's reader counts added to its source's, in unit order (so first positions are the first)."""
    counts = marker["counts"]
    into.files += 1
    into.dropped.update(counts["dropped"])
    into.repaired.update(counts["repaired"])
    for reason, where in counts["first_positions"].items():
        room = into.first_positions.setdefault(reason, [])
        room.extend(where[:max(kept - len(room), 0)])


def signatures(work: Path, index: int) -> np.ndarray:
    """The unit's signature matrix, memory-mapped (rows without a signature are zeros)."""
    return np.load(_names(work, index)["signatures"], mmap_mode="r")


def rows(work: Path, index: int, wanted: np.ndarray, columns: list[str]) -> Iterator[pa.Table]:
    """Rows ``wanted`` (ascending row numbers) of the unit, one row group at a time, reading only the groups
    that hold them: the kept documents of a corpus full of duplicates are scattered over the whole unit, and
    reading the span between them held the unit's text in memory at once."""
    file = pq.ParquetFile(_names(work, index)["rows"])
    ends = np.cumsum([file.metadata.row_group(g).num_rows for g in range(file.num_row_groups)])
    where = np.searchsorted(ends, wanted, side="right")
    for group in np.unique(where):
        first = int(ends[group - 1]) if group > 0 else 0
        # one thread: the threaded decode of a group raised the shard tasks' peak by tens of MB for no gain
        table = file.read_row_group(int(group), columns=columns, use_threads=False)
        yield table.take(arrowcols.column(wanted[where == group] - first, pa.int64()))


def has_signature(work: Path, index: int) -> np.ndarray:
    table = pq.ParquetFile(_names(work, index)["rows"]).read(columns=["has_signature"])  # read_table imports pandas
    return arrowcols.bools(table.column("has_signature"))


def documents(work: Path, index: int, batch: int = 1024, text: bool = True) -> Iterator[list[tuple[int, Processed]]]:
    """The unit's documents in order, as (position, Processed) batches carrying their signatures; without
    ``text``, their texts are left unread (empty)."""
    sigs = signatures(work, index)
    row = 0
    columns = None if text else [c for c in COLUMNS.names if c != "text"]
    for record in pq.ParquetFile(_names(work, index)["rows"]).iter_batches(batch_size=batch, columns=columns):
        block = np.array(sigs[row:row + record.num_rows])  # one copy a batch: a memmap row a document cost 15 us
        # column by column: a dict per row (to_pylist of the batch) took 1.5x as long, and the decisions are serial
        c = {name: record.column(name).to_pylist() for name in record.schema.names}
        texts = c["text"] if text else [""] * record.num_rows
        yield [(position, Processed(text=t, dropped=dropped, repairs=repairs, pii=list(zip(types, examples)),
                                    key=key, redacted_key=redacted, words=words, language=language,
                                    signature=signature if has else None))
               for position, t, dropped, repairs, types, examples, key, redacted, words, language, has, signature in
               zip(c["position"], texts, c["dropped"], c["repairs"], c["pii_types"], c["pii_examples"], c["key"],
                   c["redacted_key"], c["words"], c["language"], c["has_signature"], block)]
        row += record.num_rows
