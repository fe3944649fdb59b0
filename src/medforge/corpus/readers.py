"""Document readers: text, JSONL, CSV/TSV and Parquet, plain or compressed, streamed.

Each reader yields ``(position, text)``: the line (or row) where the document starts, so that
errors and drops can name it. Bad input is handled here by policy and counted in ``Counts``:
invalid UTF-8 (replaced, line skipped or fatal, the first positions kept for the report), NUL
bytes (a line holding one is skipped; a file that starts with binary data is skipped whole).
Damaged compressed files and missing fields or columns are errors naming the file.
"""

from __future__ import annotations

import bz2
import codecs
import csv
import gzip
import io
import json
import lzma
import sys
import zlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from medforge.errors import InputError

FORMATS = ("txt", "jsonl", "csv", "tsv", "parquet")
COMPRESSIONS = {".gz": "gzip", ".bz2": "bz2", ".xz": "xz", ".zst": "zstd"}
_SNIFF = 8192
_POSITIONS_KEPT = 5


@dataclass
class Counts:
    """What a reader did besides yielding documents: counted, never silent."""

    dropped: Counter = field(default_factory=Counter)  # reason -> documents (or lines) not yielded
    repaired: Counter = field(default_factory=Counter)  # reason -> documents changed on the way in
    first_positions: dict[str, list[str]] = field(default_factory=dict)  # reason -> "file:line" examples
    skipped_files: list[dict] = field(default_factory=list)
    files: int = 0

    def note(self, reason: str, where: str, repaired: bool = False) -> None:
        (self.repaired if repaired else self.dropped)[reason] += 1
        kept = self.first_positions.setdefault(reason, [])
        if len(kept) < _POSITIONS_KEPT:
            kept.append(where)


def split_name(path: Path) -> tuple[str, str | None]:
    """(format, compression) from the file name, e.g. ``notes.jsonl.zst`` -> ("jsonl", "zstd")."""
    suffixes = [s.lower() for s in path.suffixes]
    compression = COMPRESSIONS.get(suffixes[-1]) if suffixes else None
    if compression:
        suffixes = suffixes[:-1]
    fmt = suffixes[-1].lstrip(".") if suffixes else ""
    return fmt, compression


def open_binary(path: Path, compression: str | None):
    if compression is None:
        return path.open("rb")
    if compression == "gzip":
        return gzip.open(path, "rb")
    if compression == "bz2":
        return bz2.open(path, "rb")
    if compression == "xz":
        return lzma.open(path, "rb")
    return io.BufferedReader(_ZstdRaw(path), buffer_size=1 << 20)


class _ZstdRaw(io.RawIOBase):
    """Zstandard frames decompressed one after another; unlike zstandard's stream reader, a file cut
    inside a frame is an error (EOFError), not a silent early end."""

    def __init__(self, path: Path):
        import zstandard

        self._zstd = zstandard.ZstdDecompressor()
        self._source = path.open("rb")
        self._decoder = self._zstd.decompressobj()
        self._pending = b""
        self._started = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while not self._pending:
            chunk = self._source.read(1 << 20)
            if not chunk:
                if self._started:
                    raise EOFError("the zstd stream ends inside a frame")
                return 0
            while chunk:
                self._started = True
                self._pending += self._decoder.decompress(chunk)
                if not self._decoder.eof:
                    break
                chunk, self._decoder, self._started = self._decoder.unused_data, self._zstd.decompressobj(), False
        n = min(len(buffer), len(self._pending))
        buffer[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n

    def close(self) -> None:
        self._source.close()
        super().close()


_DAMAGED = (EOFError, OSError, zlib.error, lzma.LZMAError, ValueError)


def _damaged(path: Path, exc: Exception) -> InputError:
    return InputError(f"{path}: the compressed file is damaged or truncated ({type(exc).__name__}: {exc}); "
                      "re-download or re-compress it, or remove it from the inputs")


def _damage_errors(compression: str | None) -> tuple[type[Exception], ...]:
    if compression is None:
        return ()
    if compression == "zstd":
        import zstandard

        return (zstandard.ZstdError, *_DAMAGED)
    return _DAMAGED


# UTF-32 first: its little-endian mark begins with UTF-16's
_BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF16_LE, "utf-16"),
         (codecs.BOM_UTF16_BE, "utf-16"))


def _head(path: Path, compression: str | None) -> bytes:
    try:
        with open_binary(path, compression) as fh:
            return fh.read(_SNIFF)
    except _damage_errors(compression) as exc:
        raise _damaged(path, exc) from None


def wide_encoding(path: Path, compression: str | None) -> str | None:
    """UTF-16 or UTF-32 when the file starts with its byte-order mark (their NUL bytes look binary)."""
    head = _head(path, compression)
    return next((name for bom, name in _BOMS if head.startswith(bom)), None)


def raw_lines(path: Path, compression: str | None) -> Iterator[tuple[int, bytes]]:
    """Numbered byte lines (UTF-8) of a possibly compressed file, an error naming the file if it is damaged.
    A UTF-16/32 file with its byte-order mark is decoded and re-encoded as UTF-8 on the way."""
    wide = wide_encoding(path, compression)
    try:
        with open_binary(path, compression) as fh:
            if wide is None:
                yield from enumerate(fh, start=1)
                return
            text = io.TextIOWrapper(fh, encoding=wide, newline="")
            for lineno, line in enumerate(text, start=1):
                yield lineno, line.encode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: starts with a {wide.upper() if wide else 'UTF'} byte-order mark but is not valid "
                         f"{wide} ({exc.reason}); re-encode the file as UTF-8") from None
    except _damage_errors(compression) as exc:
        raise _damaged(path, exc) from None


def is_binary(path: Path, compression: str | None) -> bool:
    if wide_encoding(path, compression):
        return False
    head = _head(path, compression)
    return b"\x00" in head[:1024] or (bool(head) and sum(b < 9 for b in head) > len(head) // 10)


def decoded_lines(path: Path, compression: str | None, policy: str, counts: Counts) -> Iterator[tuple[int, str]]:
    """Text lines without their end-of-line. ``policy`` for invalid UTF-8: replace | skip_line | fail."""
    for lineno, raw in raw_lines(path, compression):
        where = f"{path}:{lineno}"
        if b"\x00" in raw:
            counts.note("nul_bytes", where)
            continue
        try:
            line = raw.decode("utf-8")
            if lineno == 1 and line.startswith("\ufeff"):  # a UTF-8 byte-order mark: not part of the text
                line = line[1:]
        except UnicodeDecodeError as exc:
            if policy == "fail":
                raise InputError(f"{where}: not valid UTF-8 ({exc.reason} at byte {exc.start}); re-encode the file "
                                 "as UTF-8, or set 'prepare.invalid_utf8' to replace or skip_line") from None
            if policy == "skip_line":
                counts.note("invalid_utf8", f"{where} byte {exc.start}")
                continue
            counts.note("invalid_utf8_replaced", f"{where} byte {exc.start}", repaired=True)
            line = raw.decode("utf-8", errors="replace")
        yield lineno, line.rstrip("\r\n")


def text_lines(path, compression, policy, counts) -> Iterator[tuple[int, str]]:
    """Lines of a text file, whatever its line ends: LF, CRLF, or a lone CR (old Mac files, which would
    otherwise be one document)."""
    for lineno, line in decoded_lines(path, compression, policy, counts):
        if "\r" in line:
            yield from ((lineno, part) for part in line.split("\r"))
        else:
            yield lineno, line


def read_txt(path, compression, policy, counts, paragraphs: bool = False) -> Iterator[tuple[int, str]]:
    """One document per line; with ``paragraphs``, documents are separated by blank lines."""
    if not paragraphs:
        yield from text_lines(path, compression, policy, counts)
        return
    start, lines = 0, []  # type: int, list[str]
    for lineno, line in text_lines(path, compression, policy, counts):
        if line.strip():
            if not lines:
                start = lineno
            lines.append(line)
        elif lines:
            yield start, "\n".join(lines)
            lines = []
    if lines:
        yield start, "\n".join(lines)


def read_jsonl(path, compression, policy, counts, field_name: str) -> Iterator[tuple[int, str]]:
    for lineno, line in decoded_lines(path, compression, policy, counts):
        if not line.strip():
            yield lineno, ""
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(f"{path}:{lineno}: invalid JSON ({exc.msg} at column {exc.colno}); "
                             "each line must be one JSON object") from None
        if not isinstance(obj, dict) or field_name not in obj:
            keys = sorted(obj) if isinstance(obj, dict) else type(obj).__name__
            raise InputError(f"{path}:{lineno}: no field '{field_name}' (fields: {keys}); set the source's "
                             "'text_field' to the field holding the text")
        text = obj[field_name]
        if text is not None and not isinstance(text, str):
            raise InputError(f"{path}:{lineno}: field '{field_name}' is {type(text).__name__}, not text")
        yield lineno, text or ""


def read_table(path, compression, policy, counts, column: str, delimiter: str) -> Iterator[tuple[int, str]]:
    """CSV/TSV with a header row; the document is ``column``. Quoted fields may span lines."""
    csv.field_size_limit(sys.maxsize)  # documents of several megabytes are legitimate
    lines = (line + "\n" for _, line in decoded_lines(path, compression, policy, counts))
    reader = csv.reader(lines, delimiter=delimiter)
    header = next(reader, None)
    if header is None:
        return
    if column not in header:
        raise InputError(f"{path}:1: no column '{column}' (columns: {header}); set the source's 'text_column'")
    index = header.index(column)
    for row in reader:
        if not row:
            continue
        if index >= len(row):
            raise InputError(f"{path}:{reader.line_num}: {len(row)} fields, but '{column}' is field {index + 1}; "
                             "check the delimiter and quoting")
        yield reader.line_num, row[index]


def read_parquet(path: Path, column: str) -> Iterator[tuple[int, str]]:
    import pyarrow.parquet as pq

    try:
        reader = pq.ParquetFile(path)
    except Exception as exc:  # pyarrow raises its own error types for damaged files
        raise InputError(f"{path}: not a readable Parquet file ({exc})") from None
    if column not in reader.schema_arrow.names:
        raise InputError(f"{path}: no column '{column}' (columns: {reader.schema_arrow.names}); set the source's "
                         "'text_column'")
    row = 0
    for batch in reader.iter_batches(batch_size=1024, columns=[column]):
        for text in batch.column(0).to_pylist():
            row += 1
            yield row, text or ""


def read_documents(path: Path, counts: Counts, *, text_field: str = "text", text_column: str = "text",
                   paragraphs: bool = False, invalid_utf8: str = "replace") -> Iterator[tuple[int, str]]:
    """The documents of one file, whatever its format and compression."""
    if not path.is_file():
        raise InputError(f"{path}: file not found; check the path in the config")
    fmt, compression = split_name(path)
    if fmt not in FORMATS:
        raise InputError(f"{path}: unsupported file type '.{fmt}'; supported: {', '.join(FORMATS)}, optionally "
                         f"compressed ({', '.join(COMPRESSIONS)})")
    if path.stat().st_size == 0:
        counts.skipped_files.append({"file": str(path), "reason": "empty file"})
        return
    if fmt == "parquet":
        yield from read_parquet(path, text_column)
        return
    if is_binary(path, compression):
        counts.skipped_files.append({"file": str(path), "reason": "binary content (NUL or control bytes, and no "
                                                                  "UTF-16/32 byte-order mark)"})
        return
    wide = wide_encoding(path, compression)
    if wide:
        counts.note(f"file decoded as {wide.upper()} (byte-order mark)", str(path), repaired=True)
    if fmt == "txt":
        yield from read_txt(path, compression, invalid_utf8, counts, paragraphs)
    elif fmt == "jsonl":
        yield from read_jsonl(path, compression, invalid_utf8, counts, text_field)
    else:
        yield from read_table(path, compression, invalid_utf8, counts, text_column, "," if fmt == "csv" else "\t")


def unsupported(pattern: str | Path) -> list[Path]:
    """The files of an input folder that no reader takes (expand leaves them out): listed, never silent."""
    path = Path(str(pattern))
    if not path.is_dir():
        return []
    return sorted(p for p in path.rglob("*") if p.is_file() and split_name(p)[0] not in FORMATS)


def expand(pattern: str | Path, base: Path | None = None) -> list[Path]:
    """A file, a folder (its readable files, recursively) or a glob, as a sorted list of files."""
    text = str(pattern)
    path = Path(text)
    if base is not None and not path.is_absolute():
        path = base / path
    if any(ch in text for ch in "*?["):
        anchor = Path(path.anchor) if path.is_absolute() else Path(".")
        relative = str(path.relative_to(anchor)) if path.is_absolute() else str(path)
        found = sorted(p for p in anchor.glob(relative) if p.is_file())
        if not found:
            raise InputError(f"{text}: the pattern matches no file")
        return found
    if path.is_dir():
        found = sorted(p for p in path.rglob("*") if p.is_file() and split_name(p)[0] in FORMATS)
        if not found:
            raise InputError(f"{path}: the folder holds no {'/'.join(FORMATS)} file")
        return found
    if not path.exists():
        raise InputError(f"{path}: corpus file not found; fix the source's paths in 'prepare'")
    return [path]
