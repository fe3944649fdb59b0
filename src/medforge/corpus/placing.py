"""The task engine's last step, split in two: decisions here, shard files written by tasks.

The decisions (exact and near duplicates, in the global order) read no text: ``PlannedShards`` records,
per shard, the global numbers of the documents that are no duplicate, and writes what the decisions
alone produce (duplicate clusters, index state). One task per shard (``write_shard``) then reads those
documents' texts from the units, draws their split and copies, and writes the shard's Parquet files;
the shard's marker, its counts merged, is written last, here. The files are those of the streaming
engine, byte for byte: the same rows through the same ``place`` in the same order.
"""

from __future__ import annotations

import os
from collections import defaultdict
from pathlib import Path

import numpy as np

from medforge.corpus import units
from medforge.corpus.config import PrepareConfig, SourceConfig
from medforge.corpus.dedup import Dedup, Ref
from medforge.corpus.process import Processed
from medforge.corpus.stage import Shards, Tally, place
from medforge.corpus.store import SPLITS, SplitWriter, shard_name


class PlannedShards(Shards):
    def __init__(self, folder: Path, cfg: PrepareConfig, work: Path):
        self.work = work
        self.pending: list[tuple[int, int, dict[str, Tally]]] = []  # (index, documents read after, tallies)
        super().__init__(folder, cfg)

    def _open(self) -> None:
        self.writers = {}
        self.tallies = defaultdict(Tally)
        self.clusters = []
        self.numbers: list[int] = []

    def place(self, cfg: PrepareConfig, seed: int, source: SourceConfig, ref: Ref, doc: Processed, tally: Tally,
              number: int) -> None:
        self.numbers.append(number)

    def close(self, dedup: Dedup, position: int) -> None:
        self.save_decisions(dedup)
        np.save(plan_path(self.work, self.index), np.array(self.numbers, dtype=np.int64))
        self.pending.append((self.index, position, self.tallies))
        self.index += 1
        self._open()

    def tasks(self, seed: int, unit_list: list[units.Unit], sizes: list[int]) -> list[tuple]:
        """One ``write_shard`` call per shard, each given only the units its documents come from."""
        starts = np.concatenate([[0], np.cumsum(sizes)])
        calls = []
        for index, _, _ in self.pending:
            numbers = np.load(plan_path(self.work, index))
            lo, hi = (np.searchsorted(starts, numbers[[0, -1]], side="right") - 1) if len(numbers) else (0, -1)
            spans = [(unit_list[i].index, int(starts[i]), int(sizes[i]), unit_list[i].source, unit_list[i].path)
                     for i in range(lo, hi + 1)]
            calls.append((self.cfg, seed, str(self.work), str(self.folder), index, spans))
        return calls

    def write_markers(self, results: list[dict]) -> None:
        """Each shard's marker with the placing's counts added, in shard order, once every file exists."""
        for (index, position, tallies), result in zip(self.pending, results):
            for label, data in result["tallies"].items():
                tallies[label].add(Tally(data), self.cfg.examples)
            self.write_marker(position, result["rows"], tallies, index=index)
        for stale in self.folder.glob(".*.tmp"):  # left by a task that died and was run again
            stale.unlink()


def plan_path(work: Path, index: int) -> Path:
    return Path(work) / shard_name("place", index, "npy")


def write_shard(cfg: PrepareConfig, seed: int, work: str, folder: str, index: int,
                spans: list[tuple[int, int, int, SourceConfig, str]]) -> dict:
    """Shard ``index``'s Parquet files from its planned documents (files renamed into place when complete,
    so a task run again after a crash writes them whole); returns its rows per split and counts."""
    numbers = np.load(plan_path(Path(work), index))
    final = {s: Path(folder) / shard_name(s, index, "parquet") for s in SPLITS}
    writers = {s: SplitWriter(p.with_name(f".{p.name}.{os.getpid()}.tmp")) for s, p in final.items()}
    tallies: dict[str, Tally] = defaultdict(Tally)
    for unit_index, first, size, source, path in spans:
        wanted = numbers[(numbers >= first) & (numbers < first + size)] - first
        if not len(wanted):
            continue
        tally = tallies[source.label]
        for table in units.rows(Path(work), unit_index, wanted, ["position", "text", "words", "pii_types"]):
            for position, text, words, pii in zip(*(table.column(c).to_pylist() for c in table.column_names)):
                place(cfg, seed, source, (source.label, path, position), text, words, bool(pii), writers, tally)
    for split, writer in writers.items():
        writer.close()
        if writer.rows:
            os.replace(writer.path, final[split])
    return {"rows": {s: w.rows for s, w in writers.items()}, "tallies": {k: t.to_dict() for k, t in tallies.items()}}
