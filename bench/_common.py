"""Shared helpers for the benchmarks: the real text, replicated to a size."""

from __future__ import annotations

import sys
from pathlib import Path

SHARED_TEXT = Path(__file__).resolve().parents[2] / "shared" / "data" / "text"


def real_lines(languages=("fr", "en")) -> list[str]:
    if not SHARED_TEXT.is_dir():
        sys.exit(f"{SHARED_TEXT} is absent: these benchmarks need the shared real text")
    lines = []
    for lang in languages:
        for path in sorted((SHARED_TEXT / lang).glob("*.txt")):
            lines += [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return lines


def replicate(lines: list[str], megabytes: float) -> list[str]:
    """The lines repeated (with a copy number, so no two documents are identical) up to a size."""
    target = megabytes * 1e6
    out, size, copy = [], 0, 0
    while size < target:
        for line in lines:
            text = f"{line} [{copy}]" if copy else line
            out.append(text)
            size += len(text.encode("utf-8")) + 1
            if size >= target:
                break
        copy += 1
    return out
