"""Raw text into sentences of tokens with character offsets (brat conversion and ``medforge tag``).

Sentences: one per line (a line ends at LF, CRLF or a lone CR; offsets stay those of the text as given),
and a line is also split after ``.``, ``!`` or ``?`` followed by a space and an upper-case letter, but
never after a single capital (an initial, or a spaced acronym such as "U . R . S . S") nor inside a
protected span (an annotated entity). Tokens are runs of letters and digits, or single other characters.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

_TOKEN = re.compile(r"\w+|[^\w\s]")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-ZÀ-Ý])")
_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def _initial_before(line: str, period: int) -> bool:
    """Whether the word before the end mark at ``period`` is a single capital letter ("J." "U . R")."""
    before = line[:period].rstrip(" ")
    return len(before) >= 1 and before[-1].isupper() and (len(before) == 1 or not before[-2].isalnum())


def sentences_of(text: str, protected: Sequence[tuple[int, int]] = ()) -> list[tuple[int, int]]:
    """(start, end) character offsets of each sentence; no sentence end inside a ``protected`` span."""
    breaks = list(_LINE_BREAK.finditer(text))  # offsets stay those of the text as given, whatever its line ends
    spans = []
    for offset, end in zip([0] + [m.end() for m in breaks], [m.start() for m in breaks] + [len(text)]):
        line, start = text[offset:end], 0
        for cut in _SENTENCE_END.finditer(line):
            at = offset + cut.start()
            if _initial_before(line, cut.start() - 1) or any(a < at < b for a, b in protected):
                continue
            spans.append((offset + start, at))
            start = cut.end()
        spans.append((offset + start, offset + len(line)))
    return spans


def tokens_of(text: str, start: int, end: int) -> list[tuple[int, int, str]]:
    """(start, end, token) for the tokens of ``text[start:end]``, offsets into ``text``."""
    return [(m.start() + start, m.end() + start, m.group()) for m in _TOKEN.finditer(text[start:end])]
