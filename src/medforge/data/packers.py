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

import numpy as np

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


Chunk = tuple[np.ndarray, np.ndarray, np.ndarray]  # every document's ids end to end, their starts, lengths
Block = dict[str, np.ndarray]  # input_ids and starts (rows, seq_len), n_real (rows,)


def greedy(chunks: Iterable[Chunk], seq_len: int, bos: int, eos: int, pad: int) -> Iterator[Block]:
    """Pack mode on whole arrays: each chunk of documents gets its end tokens, joins what the previous
    chunk left over, and is cut into full rows by a reshape; only the very last row is padded. A Python
    loop over documents here took longer than tokenizing them."""
    width = seq_len - 1
    carry_ids, carry_starts = np.empty(0, np.int32), np.empty(0, np.int8)
    for ids, starts, lengths in chunks:
        if not len(lengths):
            continue
        ends = np.cumsum(lengths) + np.arange(len(lengths))  # document i's end token follows its tokens
        body = np.ones(len(ids) + len(lengths), dtype=bool)
        body[ends] = False
        flat_ids = np.full(len(body), eos, dtype=np.int32)
        flat_ids[body] = ids
        flat_starts = np.ones(len(body), dtype=np.int8)
        flat_starts[body] = starts
        flat_ids, flat_starts = np.concatenate([carry_ids, flat_ids]), np.concatenate([carry_starts, flat_starts])
        full = len(flat_ids) // width * width
        if full:
            yield _block(flat_ids[:full].reshape(-1, width), flat_starts[:full].reshape(-1, width), seq_len, bos, pad)
        carry_ids, carry_starts = flat_ids[full:], flat_starts[full:]
    if len(carry_ids):
        yield _block(carry_ids[None, :], carry_starts[None, :], seq_len, bos, pad)


def _block(ids: np.ndarray, starts: np.ndarray, seq_len: int, bos: int, pad: int) -> Block:
    rows, n = ids.shape[0], ids.shape[1] + 1
    out_ids = np.full((rows, seq_len), pad, dtype=np.int32)
    out_ids[:, 0] = bos
    out_ids[:, 1:n] = ids
    out_starts = np.ones((rows, seq_len), dtype=np.int8)
    out_starts[:, 1:n] = starts
    return {"input_ids": out_ids, "starts": out_starts, "n_real": np.full(rows, n, dtype=np.int32)}


def groups(items: Iterable, size: int) -> Iterator[list]:
    """Consecutive lists of ``size`` items (the last one shorter)."""
    group: list = []
    for item in items:
        group.append(item)
        if len(group) == size:
            yield group
            group = []
    if group:
        yield group


def chunks_of(docs: Iterable[Doc], size: int = 1024) -> Iterator[Chunk]:
    """Documents as lists, grouped into the arrays ``greedy`` takes."""
    return (_chunk(group) for group in groups(docs, size))


def _chunk(group: list[Doc]) -> Chunk:
    return (np.fromiter((t for ids, _, _ in group for t in ids), dtype=np.int32),
            np.fromiter((s for _, starts, _ in group for s in starts), dtype=np.int8),
            np.array([len(ids) for ids, _, _ in group], dtype=np.int64))


def rows_of(blocks: Iterable[Block]) -> Iterator[dict]:
    for block in blocks:
        for ids, starts, n in zip(block["input_ids"], block["starts"], block["n_real"]):
            yield {"input_ids": ids.tolist(), "starts": starts.tolist(), "n_real": int(n)}


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
    """Rows as dicts of lists, whatever the mode (``greedy`` on arrays is the fast way for mode pack)."""
    if mode == "pack":
        return rows_of(greedy(chunks_of(docs), seq_len, bos, eos, pad))
    return by_units(docs, seq_len, bos, eos, pad, mode)
