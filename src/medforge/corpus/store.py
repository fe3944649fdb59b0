"""The prepared corpus on disk: Parquet shards per split, ``shards/<split>-NNNNN.parquet``.

Shard N holds the documents kept from the N-th block of ``shard_docs`` documents read; it is
finished when ``shards/shard-NNNNN.json`` (its marker) exists. A split with no document in a
shard has no file for it (``datasets`` cannot read zero-row Parquet files).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from medforge import arrowcols

SPLITS = ("train", "validation", "test")
SCHEMA = pa.schema([("text", pa.string()), ("source", pa.string()), ("file", pa.string()), ("position", pa.int64())])
BATCH = 10_000
SHARDS = "shards"


def shard_name(kind: str, index: int, suffix: str) -> str:
    return f"{kind}-{index:05d}.{suffix}"


class SplitWriter:
    """Buffers rows of one split of one shard and appends them every ``BATCH`` documents; the file is
    created with the first row."""

    def __init__(self, path: Path):
        self.path = path
        self.rows = 0
        self._writer: pq.ParquetWriter | None = None
        self._buffer: dict[str, list] = {name: [] for name in SCHEMA.names}

    def add(self, text: str, source: str, file: str, position: int) -> None:
        for name, value in zip(SCHEMA.names, (text, source, file, position)):
            self._buffer[name].append(value)
        self.rows += 1
        if len(self._buffer["text"]) >= BATCH:
            self._flush()

    def _flush(self) -> None:
        if self._buffer["text"]:
            if self._writer is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._writer = pq.ParquetWriter(self.path, SCHEMA)
            self._writer.write_table(arrowcols.table(self._buffer, SCHEMA))
            self._buffer = {name: [] for name in SCHEMA.names}

    def close(self) -> None:
        self._flush()
        if self._writer is not None:
            self._writer.close()


def split_files(folder: Path, split: str) -> list[Path]:
    """The split's shard files, in order (empty for an empty split)."""
    from medforge.errors import MedforgeError

    if not (Path(folder) / SHARDS).is_dir():
        raise MedforgeError(f"{folder}: no prepared corpus ({SHARDS}/ missing); run the prepare stage first")
    return sorted((Path(folder) / SHARDS).glob(f"{split}-*.parquet"))


def count_rows(folder: Path, split: str) -> int:
    return sum(pq.ParquetFile(p).metadata.num_rows for p in split_files(folder, split))


def iter_texts(folder: Path, split: str, batch_size: int = 1000) -> Iterator[list[str]]:
    """Batches of document texts, read without loading the whole split."""
    for path in split_files(folder, split):
        for batch in pq.ParquetFile(path).iter_batches(batch_size=batch_size, columns=["text"]):
            yield batch.column("text").to_pylist()
