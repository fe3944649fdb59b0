"""Document-level train/validation split.

A document's split depends only on the seed and its text, so it is stable when documents are
added or files reordered, and exact duplicates always land on the same side.
"""

from __future__ import annotations

import hashlib


def split_score(text: str, seed: int) -> float:
    """A uniform number in [0, 1) drawn from the seed and the text."""
    digest = hashlib.blake2b(text.encode("utf-8"), digest_size=8, key=str(seed).encode()).digest()
    return int.from_bytes(digest, "big") / 2**64


def assign(text: str, seed: int, validation_fraction: float, test_fraction: float = 0.0) -> str:
    score = split_score(text, seed)
    if score < validation_fraction:
        return "validation"
    return "test" if score < validation_fraction + test_fraction else "train"


def copies(text: str, seed: int, weight: float) -> int:
    """How many times a training document is written under a source's sampling weight: the integer part,
    plus one with the fractional part's probability, drawn from the text (so reruns agree)."""
    whole = int(weight)
    if whole == weight:  # no fraction to draw for: the hash of the text is not needed
        return whole
    return whole + (split_score(text, seed + 1) < weight - whole)
