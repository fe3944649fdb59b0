import random

import pytest

from medforge.tasks.schemes import SCHEMES, from_iob2, tag_pattern, to_iob2


def random_iob2(rng: random.Random, n: int) -> list[str]:
    tags, previous = [], "O"
    for _ in range(n):
        choice = rng.choice(["O", "B-A", "B-B", "I"])
        tag = ("I-" + previous[2:] if previous != "O" else "O") if choice == "I" else choice
        tags.append(tag)
        previous = tag
    return tags


@pytest.mark.parametrize("scheme", SCHEMES)
def test_every_scheme_round_trips_without_repairs(scheme):
    rng = random.Random(0)
    for _ in range(300):
        tags = random_iob2(rng, rng.randint(1, 12))
        written = from_iob2(tags, scheme)
        assert all(tag_pattern(scheme).match(t) for t in written)
        assert to_iob2(written, scheme) == (tags, 0), written


@pytest.mark.parametrize(("scheme", "tags", "expected", "repairs"), [
    ("iob1", ["I-A", "I-A", "B-A", "O", "I-B", "I-A"], ["B-A", "I-A", "B-A", "O", "B-B", "B-A"], 0),
    ("iob2", ["O", "I-A", "I-A", "B-B", "I-A"], ["O", "B-A", "I-A", "B-B", "B-A"], 2),
    ("iobes", ["S-A", "B-B", "E-B", "E-A", "I-A"], ["B-A", "B-B", "I-B", "B-A", "B-A"], 2),
    ("bilou", ["U-A", "B-A", "L-A", "L-A"], ["B-A", "B-A", "I-A", "B-A"], 1),
])
def test_known_conversions_and_repair_counts(scheme, tags, expected, repairs):
    assert to_iob2(tags, scheme) == (expected, repairs)


def test_a_scheme_rejects_the_prefixes_of_another():
    assert not tag_pattern("iob2").match("S-A") and tag_pattern("iobes").match("S-A")
    assert not tag_pattern("iobes").match("U-A") and tag_pattern("bilou").match("L-Disease")
