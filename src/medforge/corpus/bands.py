"""Near-duplicate candidates for the task engine: LSH banding as a shuffle by band key, one task per band.

A band task reads its band's slice of every unit's signatures, groups documents whose slices are equal
(the same buckets as ``NearDuplicates``, keyed by the bytes rather than a per-process hash), and
verifies every pair of a bucket on the whole signature. What comes back is every pair (later, earlier,
similarity) at or above the threshold; which document of a pair is kept is decided afterwards, in the
global order, exactly as the streaming engine decides it.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from medforge.corpus import units
from medforge.corpus.config import PrepareConfig
from medforge.corpus.dedup import Dedup

SMALL_BUCKET = 64  # members; larger buckets are compared in bounded blocks


def band_edges(work: str, unit_sizes: list[tuple[int, int]], band: int, rows: int, threshold: float) -> str:
    """Pairs of documents sharing this band's bucket with similarity >= threshold, saved to
    ``work/band-BBB.npz`` as global document numbers (``later`` > ``earlier``); returns the path."""
    folder = Path(work)
    out = folder / f"band-{band:03d}.npz"
    slices, gids, offset = [], [], 0
    for index, size in unit_sizes:
        if size:
            has = np.flatnonzero(units.has_signature(folder, index))
            sigs = units.signatures(folder, index)
            slices.append(np.ascontiguousarray(sigs[has, band * rows:(band + 1) * rows]))
            gids.append(has + offset)
        offset += size
    later: list[np.ndarray] = []
    earlier: list[np.ndarray] = []
    similarity: list[np.ndarray] = []
    if slices:
        keys = np.concatenate(slices)
        ids = np.concatenate(gids)
        _, bucket = np.unique(keys.view(np.dtype((np.void, rows * 4))).ravel(), return_inverse=True)
        order = np.lexsort((ids, bucket))
        bucket, ids = bucket[order], ids[order]
        starts = np.flatnonzero(np.r_[True, bucket[1:] != bucket[:-1]])
        sizes = np.diff(np.r_[starts, len(bucket)])
        shared = [ids[a:a + n] for a, n in zip(starts[sizes > 1], sizes[sizes > 1])]
        if shared:
            wanted = np.unique(np.concatenate(shared))
            full = _gather(folder, unit_sizes, wanted)
            # small buckets (nearly all) a size at a time, every pair at once; a Python call per bucket took
            # as long as the file tasks on a corpus full of near copies
            for size in sorted({len(m) for m in shared if len(m) <= SMALL_BUCKET}):
                group = np.stack([m for m in shared if len(m) == size])
                a, b = np.triu_indices(size, 1)
                found = _verify_pairs(full, wanted, group[:, b].ravel(), group[:, a].ravel(), band, rows, threshold)
                later += found[0]
                earlier += found[1]
                similarity += found[2]
            for members in (m for m in shared if len(m) > SMALL_BUCKET):
                found = _verify(full, wanted, members, band, rows, threshold)
                later += found[0]
                earlier += found[1]
                similarity += found[2]

    def joined(parts: list[np.ndarray], dtype) -> np.ndarray:
        return np.concatenate(parts).astype(dtype) if parts else np.zeros(0, dtype=dtype)

    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp.npz")
    np.savez(tmp, later=joined(later, np.int64), earlier=joined(earlier, np.int64),
             similarity=joined(similarity, np.float64))
    os.replace(tmp, out)
    return str(out)


def _first_here(equal: np.ndarray, band: int, rows: int) -> np.ndarray:
    """Whether this band is the first the pairs share (no earlier band equal on all its rows)."""
    head = equal[..., :band * rows]
    return np.logical_not(head.reshape(*head.shape[:-1], band, rows).all(axis=-1).any(axis=-1))


def _verify_pairs(full: np.ndarray, wanted: np.ndarray, later: np.ndarray, earlier: np.ndarray, band: int, rows: int,
                  threshold: float, budget: int = 1 << 24) -> tuple[list, list, list]:
    """Given pairs (later, earlier) at or above the threshold, each reported by its first shared band only."""
    width = full.shape[1]
    block = max(1, budget // (width * (2 * full.itemsize + 1)))  # two gathered signatures and their comparison
    kept_later, kept_earlier, kept_sim = [], [], []
    for start in range(0, len(later), block):
        j, i = later[start:start + block], earlier[start:start + block]
        equal = full[np.searchsorted(wanted, j)] == full[np.searchsorted(wanted, i)]
        sim = equal.mean(axis=1)
        keep = _first_here(equal, band, rows) & (sim >= threshold)
        kept_later.append(j[keep])
        kept_earlier.append(i[keep])
        kept_sim.append(sim[keep])
    return kept_later, kept_earlier, kept_sim


def _verify(full: np.ndarray, wanted: np.ndarray, members: np.ndarray, band: int, rows: int, threshold: float,
            budget: int = 1 << 24) -> tuple[list, list, list]:
    """The pairs of one large bucket (members ascending), each later member with every earlier one, a block of
    later members at a time: a bucket of a few thousand near copies of a short text holds millions of pairs."""
    block = max(1, budget // (full.shape[1] * (2 * full.itemsize + 1) * len(members)))
    found: tuple[list, list, list] = ([], [], [])
    for start in range(1, len(members), block):
        later, earlier = np.nonzero(np.arange(len(members))[None, :] < np.arange(start, min(start + block,
                                                                                              len(members)))[:, None])
        for part, got in zip(found, _verify_pairs(full, wanted, members[start + later], members[earlier], band, rows,
                                                  threshold, budget)):
            part += got
    return found


def _gather(folder: Path, unit_sizes: list[tuple[int, int]], wanted: np.ndarray) -> np.ndarray:
    """The full signatures of the documents ``wanted`` (sorted global numbers), in that order."""
    parts, offset = [], 0
    for index, size in unit_sizes:
        inside = wanted[(wanted >= offset) & (wanted < offset + size)]
        if len(inside):
            parts.append(np.asarray(units.signatures(folder, index)[inside - offset]))
        offset += size
    return np.concatenate(parts)


class NearPairs:
    """Every verified pair once, sorted by (later, earlier), as flat arrays: a dict of small arrays per
    document cost about 700 bytes a near duplicate (70 MB for a corpus of 100k near copies)."""

    def __init__(self, later: np.ndarray, earlier: np.ndarray, similarity: np.ndarray):
        self.later, self.earlier, self.similarity = later, earlier, similarity
        self._has = set(later.tolist())  # most documents repeat nothing: no search for them
        self._none = (earlier[:0], similarity[:0])

    def __len__(self) -> int:
        """Documents with at least one earlier near duplicate."""
        return len(self._has)

    def get(self, later: int) -> tuple[np.ndarray, np.ndarray]:
        """The earlier documents (ascending) this one repeats, and the similarities."""
        if later not in self._has:
            return self._none
        a, b = np.searchsorted(self.later, [later, later + 1])
        return self.earlier[a:b], self.similarity[a:b]


def near_pairs(paths: list[str]) -> NearPairs:
    """Every verified pair of every band, once."""
    later, earlier, similarity = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)], [np.zeros(0)]
    for path in paths:
        with np.load(path, allow_pickle=False) as band:
            later.append(band["later"])
            earlier.append(band["earlier"])
            similarity.append(band["similarity"])
    j, i, s = np.concatenate(later), np.concatenate(earlier), np.concatenate(similarity)
    order = np.lexsort((i, j))  # stable: the first band's copy of a pair comes first
    j, i, s = j[order], i[order], s[order]
    first = np.r_[True, (j[1:] != j[:-1]) | (i[1:] != i[:-1])] if len(j) else np.zeros(0, dtype=bool)
    return NearPairs(j[first], i[first], s[first])  # sorted by (later, earlier)


class PairedDedup(Dedup):
    """``Dedup`` whose near-duplicate lookups read the verified pairs instead of an LSH index: the same
    answer (the most similar kept document at or above the threshold, the earliest among equals) for
    the document the caller says it is deciding (``current``, its global number)."""

    def __init__(self, cfg: PrepareConfig, pairs: NearPairs):
        super().__init__(cfg)
        self.pairs = pairs
        self.earlier = set(pairs.earlier.tolist())
        self.kept: dict[int, int] = {}  # global number -> kept index, for the earlier documents of pairs

    def near_match(self, signature: np.ndarray) -> tuple[int, float] | None:
        best: tuple[int, float] | None = None
        earlier, similarity = self.pairs.get(self.current)
        for g, s in zip(earlier, similarity):  # earlier documents ascending, so kept indices ascending
            index = self.kept.get(int(g))
            if index is not None and (best is None or s > best[1]):
                best = (index, float(s))
        return best

    def near_add(self, signature: np.ndarray, index: int) -> None:
        if self.current in self.earlier:
            self.kept[self.current] = index
