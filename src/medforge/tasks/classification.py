"""Classification files: TSV or CSV with a header row, or JSONL; one example per row.

Single-label tasks read one label per row; multi-label tasks split the label cell on the task's
separator (an empty cell is an example with no label, as in HoC); similarity tasks read a number.
Pair tasks (similarity, question answering) also read a second text. Relation tasks whose entities
are given as character offsets get entity markers inserted around them. Rows with an empty text,
an unreadable score or offsets outside the text are dropped and counted; a missing column is an
error naming the columns the file has.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

from medforge.errors import InputError


@dataclass
class Example:
    text: str
    labels: tuple[str, ...]
    line: int
    pair: str = ""  # the second text of a pair task (sentence 2, or a question's context)
    value: float | None = None  # the gold score of a similarity task


@dataclass(frozen=True)
class Extra:
    """What some kinds read besides a text and its label(s)."""

    pair_column: str = ""
    numeric: bool = False  # the label is a number (similarity)
    offsets: tuple[str, ...] = ()  # columns: start and end of entity 1, then of entity 2 (characters)
    markers: tuple[str, ...] = ("<<", ">>", "[[", "]]")


def insert_markers(text: str, spans: list[int], markers: tuple[str, ...]) -> str:
    """The text with markers around entity 1 (``markers[0:2]``) and entity 2 (``markers[2:4]``), as
    ChemProt is distributed with SciBERT: ``<< aspirin >> inhibits [[ COX-1 ]]``."""
    s1, e1, s2, e2 = spans
    if not (0 <= s1 < e1 <= len(text) and 0 <= s2 < e2 <= len(text)) or (s1 < e2 and s2 < e1):
        raise ValueError("entity offsets outside the text or overlapping")
    inserts = sorted([(s1, markers[0] + " "), (e1, " " + markers[1]), (s2, markers[2] + " "), (e2, " " + markers[3])],
                     key=lambda x: x[0], reverse=True)
    for at, mark in inserts:
        text = text[:at] + mark + text[at:]
    return text


@dataclass
class ClsFile:
    path: Path
    examples: list[Example]
    dropped: dict[str, int] = field(default_factory=dict)

    @property
    def label_set(self) -> set[str]:
        return {label for e in self.examples for label in e.labels}


def _rows(path: Path, fmt: str):
    """(line number, mapping) per row."""
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as err:
        bad_line = path.read_bytes()[:err.start].count(b"\n") + 1
        raise InputError(f"{path}:{bad_line}: not valid UTF-8; re-encode the file as UTF-8") from None
    if fmt == "json":  # one document: an array of records, or records keyed by id (PubMedQA's ori_pqal.json)
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise InputError(f"{path}:{err.lineno}: not valid JSON ({err.msg}); format json is one JSON array or "
                             "object of records (use jsonl for one record per line)") from None
        records = list(data.items()) if isinstance(data, dict) else list(enumerate(data, start=1)) \
            if isinstance(data, list) else []
        if not records:
            raise InputError(f"{path}: expected a JSON array of records or an object of records keyed by id")
        for number, (key, row) in enumerate(records, start=1):
            if not isinstance(row, dict):
                raise InputError(f"{path}: record {key} is a {type(row).__name__}, not an object")
            yield number, {"id": key, **row}
        return
    if fmt == "jsonl":
        for lineno, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as err:
                raise InputError(f"{path}:{lineno}: not valid JSON ({err.msg}); one JSON object per line") from None
            if not isinstance(row, dict):
                raise InputError(f"{path}:{lineno}: expected a JSON object, found {type(row).__name__}")
            yield lineno, row
        return
    csv.field_size_limit(sys.maxsize)  # abstracts can be long
    reader = csv.DictReader(io.StringIO(text), delimiter="\t" if fmt == "tsv" else ",")
    width = len(reader.fieldnames or [])
    for row in reader:
        if None in row or any(v is None for v in row.values()):
            raise InputError(f"{path}:{reader.line_num}: the number of cells differs from the header's {width}; "
                             "fix the row (a stray separator or quote?)")
        yield reader.line_num, row


def _joined(value) -> str:
    """A text cell; a list of passages (PubMedQA's CONTEXTS) is joined with spaces."""
    if isinstance(value, list):
        return " ".join(str(v).strip() for v in value if v is not None and str(v).strip())
    return str(value or "").strip()


def read_examples(path: Path, fmt: str, text_column: str, label_column: str, multilabel: bool,
                  separator: str, extra: Extra = Extra()) -> ClsFile:
    if not path.is_file():
        raise InputError(f"{path}: classification file not found; check the task's train/dev/test paths")
    return examples_from_rows(path, _rows(path, fmt), text_column, label_column, multilabel, separator, extra)


def examples_from_rows(path, rows, text_column: str, label_column: str, multilabel: bool,
                       separator: str, extra: Extra = Extra()) -> ClsFile:
    """``rows``: (line or row number, mapping) pairs, from a file or a hub data set."""
    examples, dropped = [], {"empty_text": 0}
    wanted = [text_column, label_column, *([extra.pair_column] if extra.pair_column else []), *extra.offsets]
    for lineno, row in rows:
        for column in wanted:
            if column not in row:
                raise InputError(f"{path}:{lineno}: no column {column!r}; the file has: {', '.join(map(str, row))}. "
                                 "Set the task's 'text_column' / 'label_column' / 'text_pair_column' / "
                                 "'entity_offsets'")
        text = _joined(row[text_column])
        pair = _joined(row[extra.pair_column]) if extra.pair_column else ""
        if extra.offsets and text:
            try:
                text = insert_markers(str(row[text_column]), [int(row[c]) for c in extra.offsets], extra.markers)
            except (TypeError, ValueError):
                dropped["bad_entity_offsets"] = dropped.get("bad_entity_offsets", 0) + 1
                continue
        if extra.numeric:
            try:
                value = float(row[label_column])
            except (TypeError, ValueError):
                dropped["unreadable_score"] = dropped.get("unreadable_score", 0) + 1
                continue
            if not text or (extra.pair_column and not pair):
                dropped["empty_text"] += 1
                continue
            examples.append(Example(text, (), lineno, pair, value))
            continue
        cell = row[label_column]
        if isinstance(cell, list):
            labels = tuple(str(c).strip() for c in cell if str(c).strip())
        else:
            cell = "" if cell is None else str(cell).strip()
            labels = tuple(p.strip() for p in cell.split(separator) if p.strip()) if multilabel else \
                ((cell,) if cell else ())
        if not text or (extra.pair_column and not pair):
            dropped["empty_text"] += 1
            continue
        if not multilabel and len(labels) != 1:
            raise InputError(f"{path}:{lineno}: expected one label in column {label_column!r}, found "
                             f"{len(labels)}; for several labels per example use type: multilabel")
        examples.append(Example(text, labels, lineno, pair))
    if not examples:
        raise InputError(f"{path}: no example found; the file is empty or every text is empty")
    return ClsFile(path, examples, dropped)
