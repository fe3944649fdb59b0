"""How tokenized documents become fixed-length sequences: the packing modes.

Every mode keeps every token (tokens out = tokens in + one start token per sequence + one end
token per document) and differs only in where a sequence may end:

  pack      fill every sequence to the brim, across document boundaries (the fastest: only the
            last sequence is padded); run_mlm's group_texts without its dropped remainders
  document  never mix two documents in a sequence (RoBERTa's DOC-SENTENCES); long documents
            continue in the next sequence, each document's last sequence is padded
  sentence  whole sentences, across documents, as many as fit (RoBERTa's FULL-SENTENCES); a
            sentence longer than a sequence is cut
  line      one line per sequence, padded (run_mlm --line_by_line, without its truncation)

A document arrives as (token ids, word-start flags, cuts): cuts are the token indices where its
sentences (or lines) begin, found from character offsets, so a sentence's tokens are the very
tokens of the running text.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Iterable, Iterator

MODES = ("pack", "document", "sentence", "line")
SENTENCE_END = re.compile(r"(?<=[.!?;。！？])\s+|(?<=[。！？])")
LINE_END = re.compile(r"\n+")

Doc = tuple[list[int], list[int], list[int]]  # ids, word-start flags, unit starts (token indices)


def unit_cuts(text: str, token_starts: list[int], mode: str) -> list[int]:
    """Token indices where sentences (mode 'sentence') or lines (mode 'line') begin."""
    pattern = SENTENCE_END if mode == "sentence" else LINE_END if mode == "line" else None
    cuts = [0]
    if pattern is not None:
        for match in pattern.finditer(text):
            cut = bisect_left(token_starts, match.end())
            if cuts[-1] < cut < len(token_starts):
                cuts.append(cut)
    return cuts


def _row(ids: list[int], starts: list[int], seq_len: int, bos: int, pad: int) -> dict:
    n = len(ids) + 1
    return {"input_ids": [bos] + ids + [pad] * (seq_len - n), "starts": [1] + starts + [1] * (seq_len - n),
            "n_real": n}


def greedy(docs: Iterable[Doc], seq_len: int, bos: int, eos: int, pad: int) -> Iterator[dict]:
    width = seq_len - 1
    ids_buf: list[int] = []
    starts_buf: list[int] = []
    for ids, starts, _ in docs:
        ids_buf += ids + [eos]
        starts_buf += starts + [1]
        while len(ids_buf) >= width:
            yield _row(ids_buf[:width], starts_buf[:width], seq_len, bos, pad)
            del ids_buf[:width], starts_buf[:width]
    if ids_buf:
        yield _row(ids_buf, starts_buf, seq_len, bos, pad)


def by_units(docs: Iterable[Doc], seq_len: int, bos: int, eos: int, pad: int, mode: str) -> Iterator[dict]:
    """Whole units (documents, sentences or lines) per sequence while they fit."""
    width = seq_len - 1
    buf_ids: list[int] = []
    buf_starts: list[int] = []
    for ids, starts, cuts in docs:
        bounds = (cuts if mode != "document" else [0]) + [len(ids)]
        units = [(ids[a:b], starts[a:b]) for a, b in zip(bounds, bounds[1:]) if b > a] or [([], [])]
        last_ids, last_starts = units[-1]
        units[-1] = (last_ids + [eos], last_starts + [1])  # the document's end token
        for unit_ids, unit_starts in units:
            if buf_ids and (len(buf_ids) + len(unit_ids) > width or mode == "line"):
                yield _row(buf_ids, buf_starts, seq_len, bos, pad)
                buf_ids, buf_starts = [], []
            while len(unit_ids) > width:  # a unit longer than a sequence continues in the next
                yield _row(unit_ids[:width], unit_starts[:width], seq_len, bos, pad)
                unit_ids, unit_starts = unit_ids[width:], unit_starts[width:]
            buf_ids, buf_starts = buf_ids + unit_ids, buf_starts + unit_starts
        if mode == "document" and buf_ids:
            yield _row(buf_ids, buf_starts, seq_len, bos, pad)
            buf_ids, buf_starts = [], []
    if buf_ids:
        yield _row(buf_ids, buf_starts, seq_len, bos, pad)


def pack_docs(docs: Iterable[Doc], seq_len: int, bos: int, eos: int, pad: int, mode: str = "pack") -> Iterator[dict]:
    if mode == "pack":
        return greedy(docs, seq_len, bos, eos, pad)
    return by_units(docs, seq_len, bos, eos, pad, mode)
