"""The prepared corpus on disk: one Parquet file per split, written in bounded batches."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from medforge.errors import MedforgeError

SPLITS = ("train", "validation")
SCHEMA = pa.schema([("text", pa.string()), ("source", pa.string()), ("line", pa.int64())])
BATCH = 10_000


class SplitWriter:
    """Buffers rows and appends them to ``<folder>/<split>.parquet`` every ``BATCH`` documents."""

    def __init__(self, folder: Path, split: str):
        self.path = folder / f"{split}.parquet"
        self._writer = pq.ParquetWriter(self.path, SCHEMA)
        self._rows: dict[str, list] = {name: [] for name in SCHEMA.names}

    def add(self, text: str, source: str, line: int) -> None:
        self._rows["text"].append(text)
        self._rows["source"].append(source)
        self._rows["line"].append(line)
        if len(self._rows["text"]) >= BATCH:
            self._flush()

    def _flush(self) -> None:
        if self._rows["text"]:
            self._writer.write_table(pa.table(self._rows, schema=SCHEMA))
            self._rows = {name: [] for name in SCHEMA.names}

    def close(self) -> None:
        self._flush()
        self._writer.close()


def split_path(folder: Path, split: str) -> Path:
    path = Path(folder) / f"{split}.parquet"
    if not path.is_file():
        raise MedforgeError(f"{path}: prepared split not found; run the prepare stage first")
    return path


def iter_texts(folder: Path, split: str, batch_size: int = 1000) -> Iterator[list[str]]:
    """Batches of document texts, read without loading the whole split."""
    reader = pq.ParquetFile(split_path(folder, split))
    for batch in reader.iter_batches(batch_size=batch_size, columns=["text"]):
        yield batch.column("text").to_pylist()
