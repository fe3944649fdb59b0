from medforge.infer.tag import decode


def test_decode_iob2_spans_and_stray_continuations():
    tags = ["B-A", "I-A", "O", "I-B", "I-B", "B-B", "B-A", "I-B"]
    assert decode(tags) == [(0, 2, "A"), (3, 5, "B"), (5, 6, "B"), (6, 7, "A"), (7, 8, "B")]
    assert decode(["O", "O"]) == [] and decode(["B-X"]) == [(0, 1, "X")]
