"""Raw text into sentences of tokens with character offsets (brat conversion and ``medforge tag``).

Sentences: one per line, and a line is also split after ``.``, ``!`` or ``?`` followed by a
space and an upper-case letter. Tokens are runs of letters and digits, or single other characters.
"""

from __future__ import annotations

import re

_TOKEN = re.compile(r"\w+|[^\w\s]")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-ZÀ-Ý])")


def sentences_of(text: str) -> list[tuple[int, int]]:
    """(start, end) character offsets of each sentence."""
    spans, offset = [], 0
    for line in text.split("\n"):
        start = 0
        for cut in _SENTENCE_END.finditer(line):
            spans.append((offset + start, offset + cut.start()))
            start = cut.end()
        spans.append((offset + start, offset + len(line)))
        offset += len(line) + 1
    return spans


def tokens_of(text: str, start: int, end: int) -> list[tuple[int, int, str]]:
    """(start, end, token) for the tokens of ``text[start:end]``, offsets into ``text``."""
    return [(m.start() + start, m.end() + start, m.group()) for m in _TOKEN.finditer(text[start:end])]
