"""Document readers. Each yields (line number, text) so errors and drops can name their line."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from medforge import paths
from medforge.errors import InputError

SUFFIXES = (".txt", ".jsonl")


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    """Decoded lines without their newline; a bad byte is reported with its line number."""
    if not path.exists():
        raise InputError(f"{path}: file not found; check the path in the config")
    if not path.is_file():
        raise InputError(f"{path}: not a file; list files, not folders")
    with path.open("rb") as fh:
        for lineno, raw in enumerate(fh, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise InputError(f"{path}:{lineno}: not valid UTF-8 ({exc.reason} at byte {exc.start}); "
                                 "re-encode the file as UTF-8") from None
            yield lineno, line.rstrip("\r\n")


def read_txt(path: Path) -> Iterator[tuple[int, str]]:
    """One document per line."""
    yield from _lines(path)


def read_jsonl(path: Path, text_field: str) -> Iterator[tuple[int, str]]:
    """One JSON object per line; the document is ``obj[text_field]``. Blank lines are skipped."""
    for lineno, line in _lines(path):
        if not line.strip():
            yield lineno, ""
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(f"{path}:{lineno}: invalid JSON ({exc.msg} at column {exc.colno}); "
                             "each line must be one JSON object") from None
        if not isinstance(obj, dict) or text_field not in obj:
            keys = sorted(obj) if isinstance(obj, dict) else type(obj).__name__
            raise InputError(f"{path}:{lineno}: no field '{text_field}' (found {keys}); "
                             "set 'prepare.text_field' to the field holding the text")
        text = obj[text_field]
        if text is None:
            text = ""
        if not isinstance(text, str):
            raise InputError(f"{path}:{lineno}: field '{text_field}' is {type(text).__name__}, not text")
        yield lineno, text


def read_documents(path: str | Path, text_field: str = "text") -> Iterator[tuple[int, str]]:
    local = paths.resolve(path)
    suffix = local.suffix.lower()
    if suffix == ".txt":
        return read_txt(local)
    if suffix == ".jsonl":
        return read_jsonl(local, text_field)
    raise InputError(f"{local}: unsupported file type '{suffix or '(none)'}'; supported: {', '.join(SUFFIXES)}")
