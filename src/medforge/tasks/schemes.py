"""Tagging schemes for NER, all converted to IOB2 (the scheme seqeval's strict mode scores).

- IOB1: ``I-X`` opens an entity unless it continues one of type X; ``B-X`` only separates two
  adjacent entities of the same type.
- IOB2: every entity opens with ``B-X``.
- IOBES / BIOES: ``S-X`` single-token entity, ``E-X`` its last token.
- BILOU: ``U-X`` unit (single token), ``L-X`` last token.

A continuation tag (``I``, ``E``, ``L``) that does not follow an open entity of its type is an
invalid transition: it is repaired to open a new entity and counted, never dropped.
"""

from __future__ import annotations

import re

SCHEMES = ("iob1", "iob2", "iobes", "bilou")
# the prefixes each scheme may use; IOBES files written "BIOES" use the same letters
PREFIXES = {"iob1": "BI", "iob2": "BI", "iobes": "BIES", "bilou": "BILU"}
_OPENS = {"B", "S", "U"}
_CLOSES = {"E", "L", "S", "U"}


def tag_pattern(scheme: str) -> re.Pattern:
    return re.compile(rf"^(O|[{PREFIXES[scheme]}]-\S+)$")


def to_iob2(tags: list[str], scheme: str) -> tuple[list[str], int]:
    """(IOB2 tags, number of invalid transitions repaired)."""
    out: list[str] = []
    repaired = 0
    open_type: str | None = None  # type of the entity the previous token left open
    for tag in tags:
        if tag == "O":
            out.append("O")
            open_type = None
            continue
        prefix, kind = tag[0], tag[2:]
        if scheme == "iob1":
            starts = prefix == "B" or open_type != kind  # an I- after O or another type opens (valid in IOB1)
        else:
            starts = prefix in _OPENS
            if not starts and open_type != kind:  # a continuation with nothing to continue
                starts, repaired = True, repaired + 1
        out.append(("B-" if starts else "I-") + kind)
        open_type = None if scheme in ("iobes", "bilou") and prefix in _CLOSES else kind
    return out, repaired


def from_iob2(tags: list[str], scheme: str) -> list[str]:
    """IOB2 -> another scheme (for writing test files and round trips)."""
    if scheme == "iob2":
        return list(tags)
    out = []
    for i, tag in enumerate(tags):
        if tag == "O":
            out.append(tag)
            continue
        prefix, kind = tag[0], tag[2:]
        following = tags[i + 1] if i + 1 < len(tags) else "O"
        last = following != "I-" + kind
        if scheme == "iob1":
            previous = tags[i - 1] if i else "O"
            out.append(("B-" if prefix == "B" and previous[2:] == kind else "I-") + kind)
        elif scheme == "iobes":
            out.append({("B", True): "S-", ("B", False): "B-", ("I", True): "E-", ("I", False): "I-"}[prefix, last] + kind)  # noqa: E501
        else:
            out.append({("B", True): "U-", ("B", False): "B-", ("I", True): "L-", ("I", False): "I-"}[prefix, last] + kind)  # noqa: E501
    return out
