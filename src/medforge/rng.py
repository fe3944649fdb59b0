"""Counter-based random numbers: a value is a hash of where it is used, not the next draw of a generator.

MLM masks draw one number per (run seed, epoch, sequence, position). Computed as a 64-bit mixing hash
(splitmix64's finaliser) over whole numpy arrays, they cost a few vector operations per batch instead
of one ``torch.Generator`` per sequence, and they cannot depend on which process or data worker builds
a batch, or in which order. Near-duplicate detection uses the same mixer for its shingle hashes.
"""

from __future__ import annotations

import numpy as np

_MIX1, _MIX2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)
_SHIFT30, _SHIFT27, _SHIFT31 = np.uint64(30), np.uint64(27), np.uint64(31)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)  # the Weyl increment: consecutive counters land far apart
_UNIT = 2.0 ** -53


_STEPS = ((_SHIFT30, _MIX1), (_SHIFT27, _MIX2), (_SHIFT31, None))  # splitmix64's finaliser: xor-shift, multiply


def mix64(h):
    """splitmix64's finaliser: every input bit reaches every output bit (a uint64 array or scalar in, the
    same out)."""
    with np.errstate(over="ignore"):
        for shift, factor in _STEPS:
            h = h ^ (h >> shift)
            if factor is not None:
                h = h * factor
    return h


def mix64_inplace(h: np.ndarray) -> np.ndarray:
    """``mix64`` of a uint64 array, written over it: one scratch array instead of a new one per operation
    (a third of the time on arrays of millions)."""
    scratch = np.empty_like(h)
    with np.errstate(over="ignore"):
        for shift, factor in _STEPS:
            np.right_shift(h, shift, out=scratch)
            h ^= scratch
            if factor is not None:
                h *= factor
    return h


def row_keys(seed: int, epoch: int | np.ndarray, index: np.ndarray) -> np.ndarray:
    """One 64-bit key per sequence: (run seed, epoch, sequence index) hashed; epoch -1 is held-out data."""
    with np.errstate(over="ignore"):
        h = mix64(np.uint64(seed & 0xFFFFFFFFFFFFFFFF) + _GOLDEN)
        h = mix64(h ^ (np.asarray(epoch, dtype=np.int64).astype(np.uint64) * _GOLDEN))
        return mix64(h ^ (np.asarray(index, dtype=np.uint64) + _GOLDEN))


def streams(keys: np.ndarray, length: int, count: int) -> list[np.ndarray]:
    """``count`` independent (rows, length) arrays of uint64, one value per row key, position and stream."""
    with np.errstate(over="ignore"):
        base = mix64(keys.astype(np.uint64)[:, None] ^ (np.arange(length, dtype=np.uint64) * _GOLDEN)[None, :])
        return [mix64(base + np.uint64(s + 1) * _GOLDEN) for s in range(count)]


def unit(values: np.ndarray) -> np.ndarray:
    """uint64 -> float64 uniform in [0, 1), from the top 53 bits."""
    return (values >> np.uint64(11)).astype(np.float64) * _UNIT
