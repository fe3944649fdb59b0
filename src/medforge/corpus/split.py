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


def assign(text: str, seed: int, validation_fraction: float) -> str:
    return "validation" if split_score(text, seed) < validation_fraction else "train"
