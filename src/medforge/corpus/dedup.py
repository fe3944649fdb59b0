"""Exact and near-duplicate detection, streaming: the first document seen is kept, later copies dropped.

Exact: a 128-bit hash of the normalised text. Near: MinHash over character shingles (so it works
for text without spaces too), computed as one-permutation hashing (each shingle hashed once, the
minimum kept in one of ``num_perm`` bins, empty bins filled from their neighbour) with numpy, then
LSH banding tuned to the Jaccard threshold; a candidate counts only if the signatures agree on at
least ``threshold`` of their bins. Memory grows with the number of documents kept (16 bytes each for
exact, about ``4 * num_perm`` bytes plus the band index for near), not with the size of the corpus.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
from pathlib import Path

import numpy as np

from medforge.corpus.config import PrepareConfig
from medforge.corpus.normalize import folded
from medforge.rng import mix64_inplace

_PRIME = np.uint64(0x100000001B3)
_EMPTY = np.uint32(0xFFFFFFFF)


def exact_key(text: str) -> bytes:
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).digest()


def bands_for(threshold: float, num_perm: int, fn_weight: float = 0.9) -> tuple[int, int]:
    """(bands, rows) minimising weighted false positives and false negatives around ``threshold``. Missed
    pairs weigh most: every candidate is verified on its whole signature, so a false candidate costs
    one comparison, a missed one a duplicate left in the corpus."""
    def area(f, lo, hi, steps=200):
        width = (hi - lo) / steps
        return sum(f(lo + (i + 0.5) * width) for i in range(steps)) * width

    best, choice = float("inf"), (1, num_perm)
    for bands in range(1, num_perm + 1):
        if num_perm % bands:
            continue
        rows = num_perm // bands
        false_pos = area(lambda s, r=rows, b=bands: 1 - (1 - s ** r) ** b, 0.0, threshold)
        false_neg = area(lambda s, r=rows, b=bands: (1 - s ** r) ** b, threshold, 1.0)
        loss = (1 - fn_weight) * false_pos + fn_weight * false_neg
        if loss < best:
            best, choice = loss, (bands, rows)
    return choice


def _compact(text: str, lowered: bool = False) -> str:
    """``" ".join(text.lower().split())``: the text the shingles are taken from (``lowered``: the caller lowered
    it already). A normalised text (one space between words, single line breaks, no other space character)
    only needs its line breaks turned into spaces, which costs a replace and a check instead of a split into
    words and a join (half the time)."""
    low = text if lowered else text.lower()
    flat = low.replace("\n", " ") if "\n" in low else low
    return flat if folded(flat, flat.isprintable()) else " ".join(low.split())


@functools.cache
def _power_tables(size: int) -> tuple[np.ndarray, np.ndarray]:
    """P**i and P**-i modulo 2**64 for i below ``size``, read-only: built once per process (20-70 ms here, 34 MB),
    not once per hasher (the task engine makes one per input file)."""
    inverse = pow(int(_PRIME), -1, 1 << 64)
    with np.errstate(over="ignore"):
        up = np.cumprod(np.full(size, _PRIME, dtype=np.uint64))
        down = np.cumprod(np.full(size, np.uint64(inverse), dtype=np.uint64))
    tables = (np.concatenate([[np.uint64(1)], up[:-1]]), np.concatenate([[np.uint64(1)], down[:-1]]))
    for table in tables:
        table.setflags(write=False)
    return tables


class MinHasher:
    """A shingle's hash is ``sum(code[i + j] * P**j for j < shingle)`` modulo 2**64, mixed (``mix64``); its top
    bits choose the bin, its low 32 bits are the value kept.

    The polynomial is computed from prefix sums: with ``S[m] = sum(code[i] * P**i for i < m)``,
    ``S[i + shingle] - S[i] = P**i * hash(i)``, and P is odd, so it has an inverse modulo 2**64. Four vector
    passes instead of two per shingle character, and the same values."""

    CHUNK = 1 << 20  # positions per pass of the polynomial: the power tables are this long, whatever the text

    def __init__(self, num_perm: int = 128, shingle: int = 7):
        if num_perm & (num_perm - 1):
            raise ValueError("num_perm must be a power of two")
        self.num_perm, self.shingle = num_perm, shingle
        self._bin_shift = np.uint64(64 - int(math.log2(num_perm)))

    def _tables(self) -> tuple[np.ndarray, np.ndarray]:
        return _power_tables(self.CHUNK + self.shingle)

    def signature(self, text: str) -> np.ndarray | None:
        """uint32[num_perm], or None for a text shorter than one shingle."""
        return self.signatures([text])[0]

    def signatures(self, texts: list[str], chars: int = 1 << 20, lowered: bool = False) -> list[np.ndarray | None]:
        """``signature`` of every text, computed over groups of texts at once (a few vector operations per
        group instead of per document: the per-call overhead was most of the cost for short documents);
        a group holds at most ``chars`` characters, so that its uint64 temporaries stay tens of MB.
        ``lowered``: the texts are ``str.lower()``'s output already (the personal-data screen made it)."""
        out: list[np.ndarray | None] = []
        group: list[str] = []
        size = 0
        for text in texts:
            if group and size + len(text) > chars:
                out += self._signatures(group, lowered)
                group, size = [], 0
            group.append(text)
            size += len(text)
        return out + (self._signatures(group, lowered) if group else [])

    def _hashes(self, codes: np.ndarray) -> np.ndarray:
        """The mixed hash of the shingle starting at every position of ``codes`` that has a whole one."""
        k = self.shingle
        n = len(codes) - k + 1
        up, down = self._tables()
        h = np.empty(n, dtype=np.uint64)
        prefix = np.empty(min(self.CHUNK, n) + k, dtype=np.uint64)
        with np.errstate(over="ignore"):
            for start in range(0, n, self.CHUNK):
                count = min(self.CHUNK, n - start)
                seg = codes[start:start + count + k - 1]
                prefix[0] = 0
                np.multiply(seg, up[:len(seg)], out=prefix[1:len(seg) + 1])
                np.cumsum(prefix[1:len(seg) + 1], out=prefix[1:len(seg) + 1])
                part = h[start:start + count]
                np.subtract(prefix[k:k + count], prefix[:count], out=part)
                part *= down[:count]
        return mix64_inplace(h)

    def _signatures(self, texts: list[str], lowered: bool = False) -> list[np.ndarray | None]:
        compact = [_compact(t, lowered) for t in texts]
        lengths = np.array([len(c) for c in compact], dtype=np.int64)
        shingles = np.maximum(lengths - self.shingle + 1, 0)
        out: list[np.ndarray | None] = [None] * len(texts)
        rows = np.flatnonzero(shingles)
        if not len(rows):
            return out
        codes = np.frombuffer("".join(compact[r] for r in rows).encode("utf-32-le"), dtype=np.uint32)
        h = self._hashes(codes)
        width, count = self.num_perm, len(rows)
        slot = (h >> self._bin_shift).view(np.int64)  # the bin, then (in place) the row's bin in the flat matrix
        slot += np.repeat(np.arange(0, count * width, width), lengths[rows])[:len(h)]
        # a shingle starting in a document's last shingle - 1 characters runs into the next: its value goes to
        # a spare slot past the matrix
        ends = np.cumsum(lengths[rows])[:-1]
        slot[(ends[:, None] - np.arange(1, self.shingle)).reshape(-1)] = count * width
        flat = np.full(count * width + 1, _EMPTY, dtype=np.uint32)
        np.minimum.at(flat, slot, h.astype(np.uint32))  # the low 32 bits
        sig = flat[:-1].reshape(count, width)
        empty = sig == _EMPTY
        if empty.any():  # densify: an empty bin borrows the next filled bin's value (cyclically), plus the distance
            position = np.where(~np.concatenate([empty, empty], axis=1), np.arange(2 * width), 2 * width)
            following = np.minimum.accumulate(position[:, ::-1], axis=1)[:, ::-1][:, :width]
            r, c = np.nonzero(empty)
            nxt = following[r, c]
            sig[r, c] = sig[r, nxt % width] + ((nxt - c) * 0x9E3779B1).astype(np.uint32)
        for i, row in enumerate(rows.tolist()):
            out[row] = sig[i]
        return out


class NearDuplicates:
    """LSH index of kept documents' signatures; ``check`` says which kept document a new one repeats."""

    def __init__(self, threshold: float = 0.8, num_perm: int = 128):
        self.threshold = threshold
        self.bands, self.rows = bands_for(threshold, num_perm)
        self.num_perm = num_perm
        # a bucket's kept documents: an int while it holds one (most do), a list from the second on; a list per
        # entry cost 72 bytes more, 16 entries a kept document
        self._tables: list[dict[int, int | list[int]]] = [{} for _ in range(self.bands)]
        self._signatures = np.zeros((1024, num_perm), dtype=np.uint32)
        self.size = 0
        self._band = np.dtype((np.void, 4 * self.rows))  # one band's bytes as one item
        self._last: tuple[np.ndarray, list[int]] | None = None  # check's keys, which add reuses for the same array
        self.last_candidates = 0  # kept documents the last check compared

    def _keys(self, sig: np.ndarray) -> list[int]:
        """The hash of each band's bytes, in one conversion instead of a slice and a copy per band."""
        if self._last is not None and self._last[0] is sig:
            return self._last[1]
        keys = list(map(hash, np.ascontiguousarray(sig, dtype=np.uint32).view(self._band).tolist()))
        self._last = (sig, keys)
        return keys

    def check(self, sig: np.ndarray, keys: list | None = None) -> tuple[int, float] | None:
        """(index of the kept document it repeats most closely, estimated Jaccard), or None. ``keys``: the band
        keys, if the caller has them (None for a band whose bucket nobody else shares).

        Every document of every shared bucket is a candidate: keeping only a bucket's first member missed a
        near duplicate whose shared bands an earlier, less similar document held (17 of 2,733 on 40 MB)."""
        keys = self._keys(sig) if keys is None else keys
        found: set[int] = set()
        for table, key in zip(self._tables, keys):
            held = table.get(key)
            if held is not None:
                if isinstance(held, int):
                    found.add(held)
                else:
                    found.update(held)
        candidates = sorted(found)
        self.last_candidates = len(candidates)
        if not candidates:
            return None
        # bins agreeing, counted: the same order and values as their mean, at 9 us a call instead of 22 (take and
        # sum cost less than a fancy index and mean on a few rows)
        agree = (self._signatures.take(candidates, axis=0) == sig).sum(axis=1)
        best = int(np.argmax(agree))  # the most similar; the earliest kept among equals
        similarity = int(agree[best]) / self.num_perm
        if similarity < self.threshold:
            return None
        return candidates[best], similarity

    def add(self, sig: np.ndarray, keys: list | None = None) -> int:
        if self.size == len(self._signatures):
            self._signatures = np.concatenate([self._signatures, np.zeros_like(self._signatures)])
        index = self.size
        self._signatures[index] = sig
        for table, key in zip(self._tables, self._keys(sig) if keys is None else keys):
            if key is not None:
                held = table.get(key)
                if held is None:
                    table[key] = index
                elif isinstance(held, int):
                    table[key] = [held, index]
                else:
                    held.append(index)
        self.size += 1
        return index

    def signatures(self) -> np.ndarray:
        return self._signatures[:self.size]


Ref = tuple[str, str, int]  # source, file, position of a document


class Dedup:
    """Exact keys and the near-duplicate index, with the reference of every kept document."""

    def __init__(self, cfg: PrepareConfig):
        self.cfg = cfg
        self.exact: dict[bytes, int] = {}
        self.near = NearDuplicates(cfg.near_threshold, cfg.num_perm) if cfg.dedup_near else None
        self.near_refs: list[int] = []  # near index -> kept document index (texts shorter than a shingle have none)
        self.refs: list[Ref] = []
        self._new: list[tuple[bytes, bytes, np.ndarray | None]] = []
        self.current = -1  # the global number of the document being decided

    def exact_duplicate(self, *keys: bytes) -> int | None:
        """The kept document one of these keys (the text's, its redacted form's) repeats, if any."""
        if self.cfg.dedup_exact:
            for key in keys:
                if key and key in self.exact:
                    return self.exact[key]
        return None

    def check(self, key: bytes, signature: np.ndarray | None, ref: Ref,
              redacted_key: bytes = b"") -> tuple[str, int, float] | None:
        """('exact' | 'near', index of the kept document it repeats, similarity), or None (and it is kept).
        ``redacted_key``: the key of the text as written after PII redaction, which two documents differing
        only by an e-mail address share."""
        index = self.exact_duplicate(key, redacted_key)
        if index is not None:
            return "exact", index, 1.0
        if self.near is not None and signature is not None:
            found = self.near_match(signature)
            if found:
                return "near", found[0], found[1]
        self.remember(key, signature, ref, redacted_key)
        return None

    def near_match(self, signature: np.ndarray) -> tuple[int, float] | None:
        """(index of the kept document this signature repeats most closely, similarity), or None."""
        assert self.near is not None
        found = self.near.check(signature)
        return (self.near_refs[found[0]], found[1]) if found else None

    def near_add(self, signature: np.ndarray, index: int) -> None:
        assert self.near is not None
        self.near.add(signature)
        self.near_refs.append(index)

    def remember(self, key: bytes, signature: np.ndarray | None, ref: Ref, redacted_key: bytes = b"") -> None:
        index = len(self.refs)
        self.refs.append(ref)
        self.exact.setdefault(key, index)
        if redacted_key:
            self.exact.setdefault(redacted_key, index)
        if self.near is not None and signature is not None:
            self.near_add(signature, index)
        self._new.append((key, redacted_key, signature))

    def save(self, path: Path) -> None:
        """The documents kept since the last save: enough to rebuild the indexes on resume."""
        empty = np.zeros(self.cfg.num_perm, dtype=np.uint32)
        refs = self.refs[len(self.refs) - len(self._new):]
        np.savez(path, keys=np.frombuffer(b"".join(k for k, _, _ in self._new), dtype=np.uint8).reshape(-1, 16),
                 redacted_keys=np.frombuffer(b"".join(r or bytes(16) for _, r, _ in self._new),
                                             dtype=np.uint8).reshape(-1, 16),
                 signatures=np.array([empty if s is None else s for _, _, s in self._new], dtype=np.uint32
                                     ).reshape(-1, self.cfg.num_perm),
                 has_signature=np.array([s is not None for _, _, s in self._new], dtype=bool),
                 refs=np.array([json.dumps(r, ensure_ascii=False) for r in refs], dtype=str))
        self._new = []

    def load(self, path: Path) -> None:
        with np.load(path, allow_pickle=False) as state:
            redacted = state["redacted_keys"] if "redacted_keys" in state else np.zeros_like(state["keys"])
            for key, other, signature, has, ref in zip(state["keys"], redacted, state["signatures"],
                                                       state["has_signature"], state["refs"]):
                other_key = other.tobytes() if other.any() else b""
                self.remember(key.tobytes(), signature if has else None, tuple(json.loads(str(ref))), other_key)
        self._new = []
