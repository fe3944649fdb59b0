"""Arrow columns built from Python lists through their buffers.

``pa.array`` on a Python list first asks pandas whether the list is one of its objects, which imports pandas
(0.6 s here) into every preparation process, none of which uses it: with 2 workers on a 40 MB corpus that was
a tenth of the run. These builders cover the types medforge writes (strings, binary, int64, bool, lists of
those), nulls included, and give arrays equal to ``pa.array(values, type)``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pyarrow as pa

_INT32_MAX = 2**31 - 1


def _validity(values: Sequence) -> tuple[pa.Buffer | None, int]:
    missing = np.fromiter((v is None for v in values), dtype=bool, count=len(values))
    nulls = int(missing.sum())
    if not nulls:
        return None, 0
    return pa.py_buffer(np.packbits(~missing, bitorder="little")), nulls


def _offsets(lengths: Sequence[int] | np.ndarray) -> pa.Buffer:
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    if offsets[-1] > _INT32_MAX:
        raise ValueError(f"{offsets[-1]} bytes or items in one Arrow column chunk: write fewer rows at a time")
    return pa.py_buffer(offsets.astype(np.int32))


def column(values: Sequence, kind: pa.DataType) -> pa.Array:
    """``values`` (None for a null) as an Arrow array of type ``kind``."""
    n = len(values)
    validity, nulls = _validity(values)
    if pa.types.is_string(kind) or pa.types.is_binary(kind):
        text = pa.types.is_string(kind)
        encoded = [b"" if v is None else v.encode("utf-8") if text else bytes(v) for v in values]
        offsets = _offsets([len(e) for e in encoded])
        return pa.Array.from_buffers(kind, n, [validity, offsets, pa.py_buffer(b"".join(encoded))], null_count=nulls)
    if pa.types.is_int64(kind) and isinstance(values, np.ndarray):
        return pa.Array.from_buffers(kind, n, [None, pa.py_buffer(values.astype(np.int64))])
    if pa.types.is_int64(kind):
        data = np.fromiter((0 if v is None else v for v in values), dtype=np.int64, count=n)
        return pa.Array.from_buffers(kind, n, [validity, pa.py_buffer(data)], null_count=nulls)
    if pa.types.is_boolean(kind):
        bits = np.packbits(np.fromiter((bool(v) for v in values), dtype=bool, count=n), bitorder="little")
        return pa.Array.from_buffers(kind, n, [validity, pa.py_buffer(bits)], null_count=nulls)
    if pa.types.is_list(kind):
        child = column([item for v in values if v is not None for item in v], kind.value_type)
        offsets = _offsets([0 if v is None else len(v) for v in values])
        return pa.Array.from_buffers(kind, n, [validity, offsets], null_count=nulls, children=[child])
    raise TypeError(f"no builder for Arrow type {kind}")


def lists(values: np.ndarray, lengths: np.ndarray) -> pa.ListArray:
    """A list column from its items laid end to end (a numpy array) and the length of each list."""
    return pa.ListArray.from_arrays(pa.Array.from_buffers(pa.int32(), len(lengths) + 1, [None, _offsets(lengths)]),
                                    pa.array(values))


def bools(values: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """A bool column without nulls as a numpy array (``to_numpy`` would import pandas to convert it)."""
    chunks = values.chunks if isinstance(values, pa.ChunkedArray) else [values]
    out = [np.unpackbits(np.frombuffer(c.buffers()[1], dtype=np.uint8), count=c.offset + len(c),
                         bitorder="little")[c.offset:].astype(bool) for c in chunks]
    return np.concatenate(out) if out else np.zeros(0, dtype=bool)


def table(columns: Mapping[str, Sequence], schema: pa.Schema) -> pa.Table:
    """The lists of ``columns`` as a table of ``schema`` (every field present)."""
    return pa.Table.from_arrays([column(columns[f.name], f.type) for f in schema], schema=schema)
