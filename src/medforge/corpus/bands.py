"""Near-duplicate buckets for the task engine: LSH banding as a shuffle by band key, one task per band.

A band task reads its band's slice of every unit's signatures and numbers the buckets of documents whose
slices are equal (the buckets of ``NearDuplicates``, keyed by the bytes rather than a per-process hash).
It writes one bucket number per document, -1 for a document that shares its bucket with none. The
decisions then run the streaming engine's index with those numbers as band keys (``BucketDedup``): a
document is compared with the kept documents of its buckets only, in the global order, so the choice of
which document is kept is the streaming engine's by construction.

Verifying every pair of a bucket in the band tasks cost n(n-1)/2 comparisons for a bucket of n near
copies, repeated in every band the copies share (all 16 for close copies): on the bench's 200 MB the bands
took half as long as reading and hashing the files. The decisions compare a copy with the one kept
document instead.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from medforge.corpus import units
from medforge.corpus.config import PrepareConfig
from medforge.corpus.dedup import Dedup

BLOCK = 1 << 13  # documents whose bucket numbers the decisions read at once (as Python ints: about 5 MB)


def band_buckets(work: str, unit_sizes: list[tuple[int, int]], band: int, rows: int) -> str:
    """Every document's bucket number in this band (buckets numbered 0.. in order of their bytes; -1: no
    signature, or alone in its bucket), saved to ``work/band-BBB.npy`` indexed by global document number;
    returns the path."""
    folder = Path(work)
    total = sum(size for _, size in unit_sizes)
    numbers = np.full(total, -1, dtype=np.int32 if total < 2**31 else np.int64)
    slices, gids, offset = [], [], 0
    for index, size in unit_sizes:
        if size:
            has = np.flatnonzero(units.has_signature(folder, index))
            sigs = units.signatures(folder, index)
            slices.append(np.ascontiguousarray(sigs[has, band * rows:(band + 1) * rows]))
            gids.append(has + offset)
        offset += size
    if slices:
        keys = np.concatenate(slices)
        _, bucket, sizes = np.unique(keys.view(np.dtype((np.void, rows * 4))).ravel(), return_inverse=True,
                                     return_counts=True)
        bucket = bucket.ravel()
        shared = sizes[bucket] > 1
        dense = np.cumsum(sizes > 1) - 1  # shared buckets numbered 0.. with no gaps
        numbers[np.concatenate(gids)[shared]] = dense[bucket[shared]]
    out = folder / f"band-{band:03d}.npy"
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    with tmp.open("wb") as fh:
        np.save(fh, numbers)
    os.replace(tmp, out)
    return str(out)


class BucketDedup(Dedup):
    """``Dedup`` whose near-duplicate index is keyed by the band tasks' bucket numbers of the document being
    decided (``current``, its global number) instead of hashes of its signature's bands: the same candidates,
    the same answer. A document that shares no bucket is never a candidate and is not indexed."""

    def __init__(self, cfg: PrepareConfig, paths: list[str]):
        super().__init__(cfg)
        self.buckets = [np.load(p, mmap_mode="r") for p in paths]
        self.compared = 0  # kept documents compared with a later one, over the whole run
        self._start = 0
        self._keys: list[list[int]] = []  # a block of documents' bucket numbers, from _start on
        self._shared: list[bool] = []
        self._last: tuple[int, list[int | None] | None] = (-1, None)

    def _current(self) -> list[int | None] | None:
        """The current document's bucket in every band (None where it is alone), or None if it is alone in all;
        computed once per document (near_match, then near_add for a kept one)."""
        if self._last[0] == self.current:
            return self._last[1]
        at = self.current - self._start
        if not 0 <= at < len(self._keys):
            self._start, at = self.current, 0
            block = np.stack([b[self.current:self.current + BLOCK] for b in self.buckets], axis=1)
            self._keys = block.tolist()
            self._shared = (block.max(axis=1) >= 0).tolist()  # a bucket number in some band
        keys = [k if k >= 0 else None for k in self._keys[at]] if self._shared[at] else None
        self._last = (self.current, keys)
        return keys

    def near_match(self, signature: np.ndarray) -> tuple[int, float] | None:
        assert self.near is not None
        keys = self._current()
        if keys is None:
            return None
        found = self.near.check(signature, keys)
        self.compared += self.near.last_candidates
        return (self.near_refs[found[0]], found[1]) if found else None

    def near_add(self, signature: np.ndarray, index: int) -> None:
        assert self.near is not None
        keys = self._current()
        if keys is not None:
            self.near.add(signature, keys)
            self.near_refs.append(index)
