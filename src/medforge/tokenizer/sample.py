"""A seeded sample of documents under a byte budget, drawn in one streaming pass.

Each document gets a pseudo-random key from the seed and its text; the sample is the set of
documents with the smallest keys that fits the budget. Memory is bounded by the budget, the
result does not depend on document order, and the same seed gives the same sample.
"""

from __future__ import annotations

import hashlib
import heapq
from collections.abc import Iterable


def _key(text: str, seed: int) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=8, key=str(seed).encode()).digest(), "big")


def sample_documents(texts: Iterable[str], budget_bytes: int, seed: int) -> tuple[list[str], dict]:
    """Return (sample, report). ``budget_bytes <= 0`` keeps everything."""
    heap: list[tuple[int, int, str]] = []  # max-heap on key, as (-key, order, text)
    kept_bytes = seen_docs = seen_bytes = 0
    for order, text in enumerate(texts):
        size = len(text.encode("utf-8"))
        seen_docs += 1
        seen_bytes += size
        if budget_bytes <= 0:
            heap.append((0, order, text))
            continue
        heapq.heappush(heap, (-_key(text, seed), order, text))
        kept_bytes += size
        while kept_bytes > budget_bytes and heap:
            _, _, dropped = heapq.heappop(heap)  # the largest key leaves first
            kept_bytes -= len(dropped.encode("utf-8"))
    sample = [text for _, _, text in sorted(heap, key=lambda item: item[1])]  # corpus order
    used = sum(len(t.encode("utf-8")) for t in sample)
    return sample, {"documents_seen": seen_docs, "bytes_seen": seen_bytes, "documents_used": len(sample),
                    "bytes_used": used, "budget_bytes": budget_bytes if budget_bytes > 0 else None}
