import random

import pyarrow as pa
import pytest

from medforge import arrowcols

_WORDS = ["", "a", "é", "患者", "line\nbreak", "x" * 300, "😀"]


def _value(kind: pa.DataType, rng: random.Random):
    if rng.random() < 0.2:
        return None
    if pa.types.is_string(kind):
        return rng.choice(_WORDS)
    if pa.types.is_binary(kind):
        return rng.randbytes(rng.randrange(0, 20))
    if pa.types.is_int64(kind):
        return rng.randrange(-2**63, 2**63)
    if pa.types.is_boolean(kind):
        return rng.random() < 0.5
    return [_value(kind.value_type, rng) for _ in range(rng.randrange(0, 4))]


@pytest.mark.parametrize("kind", [pa.string(), pa.binary(), pa.int64(), pa.bool_(), pa.list_(pa.string()),
                                  pa.list_(pa.int64())])
def test_equals_pa_array(kind):
    rng = random.Random(0)
    for n in (0, 1, 7, 8, 9, 200):  # around the validity bitmap's byte boundary
        values = [_value(kind, rng) for _ in range(n)]
        built = arrowcols.column(values, kind)
        built.validate(full=True)
        assert built.equals(pa.array(values, kind))
        assert built.to_pylist() == values


def test_no_nulls_no_bitmap():
    built = arrowcols.column(["a", "b"], pa.string())
    assert built.null_count == 0 and built.buffers()[0] is None


def test_table_follows_schema():
    schema = pa.schema([("text", pa.string()), ("n", pa.int64())])
    built = arrowcols.table({"n": [1, 2], "text": ["x", None]}, schema)
    assert built.schema == schema and built.to_pydict() == {"text": ["x", None], "n": [1, 2]}


def test_unsupported_type_is_an_error():
    with pytest.raises(TypeError, match="double"):
        arrowcols.column([1.0], pa.float64())


def test_int64_from_numpy():
    import numpy as np

    values = np.array([3, -1, 2**40], dtype=np.int64)
    assert arrowcols.column(values, pa.int64()).equals(pa.array(values))


@pytest.mark.parametrize("offset", [0, 3, 9])
def test_bools_reads_slices_and_chunks(offset):
    rng = random.Random(offset)
    values = [rng.random() < 0.5 for _ in range(30)]
    sliced = pa.array(values).slice(offset)
    assert arrowcols.bools(sliced).tolist() == values[offset:]
    assert arrowcols.bools(pa.chunked_array([sliced, pa.array(values)])).tolist() == values[offset:] + values
    assert arrowcols.bools(pa.chunked_array([], pa.bool_())).tolist() == []


def test_lists_from_items_end_to_end():
    import numpy as np

    built = arrowcols.lists(np.array([1, 2, 3, 4], dtype=np.int32), np.array([2, 0, 2]))
    built.validate(full=True)
    assert built.to_pylist() == [[1, 2], [], [3, 4]] and built.type == pa.list_(pa.int32())
