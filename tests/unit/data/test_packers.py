from __future__ import annotations

import random

import pytest

from medforge.data.packers import MODES, pack_docs, unit_cuts

BOS, EOS, PAD, SEQ = 0, 2, 1, 16


def synthetic(n_docs=40, seed=0):
    """Documents of 1-5 'sentences' of 1-20 tokens; token value encodes (document, sentence)."""
    rng = random.Random(seed)
    docs = []
    for d in range(n_docs):
        ids, cuts = [], []
        for s in range(rng.randint(1, 5)):
            cuts.append(len(ids))
            ids += [1000 * (d + 1) + 10 * s + 3] * rng.randint(1, 20)
        docs.append((ids, [1] * len(ids), cuts))
    return docs


def content(row):
    return row["input_ids"][1:row["n_real"]]


@pytest.mark.parametrize("mode", MODES)
def test_every_mode_keeps_every_token_in_order(mode):
    docs = synthetic()
    rows = list(pack_docs(docs, SEQ, BOS, EOS, PAD, mode))
    assert all(len(r["input_ids"]) == SEQ == len(r["starts"]) and r["input_ids"][0] == BOS for r in rows)
    stream = [t for r in rows for t in content(r)]
    assert stream == [t for ids, _, _ in docs for t in ids + [EOS]]  # nothing dropped or reordered
    assert all(r["input_ids"][r["n_real"]:] == [PAD] * (SEQ - r["n_real"]) for r in rows)


def test_pack_pads_only_the_last_sequence_and_pads_least():
    docs = synthetic()
    padding = {m: sum(SEQ - r["n_real"] for r in pack_docs(docs, SEQ, BOS, EOS, PAD, m)) for m in MODES}
    rows = list(pack_docs(docs, SEQ, BOS, EOS, PAD, "pack"))
    assert all(r["n_real"] == SEQ for r in rows[:-1])
    # pack pads least; a line per sequence pads most (document mode may split inside a document
    # freely, so it can pad less than sentence mode)
    assert padding["pack"] < min(padding["sentence"], padding["document"])
    assert padding["line"] >= max(padding["sentence"], padding["document"])


def test_document_mode_never_mixes_documents():
    for row in pack_docs(synthetic(), SEQ, BOS, EOS, PAD, "document"):
        assert len({t // 1000 for t in content(row) if t != EOS}) <= 1


def test_sentence_mode_keeps_short_sentences_whole():
    docs = synthetic()
    lengths = {}
    for ids, _, _ in docs:
        for t in ids:
            lengths[t] = lengths.get(t, 0) + 1
    seen: dict[int, int] = {}
    for row in pack_docs(docs, SEQ, BOS, EOS, PAD, "sentence"):
        for sentence in {t for t in content(row) if t != EOS}:
            seen[sentence] = seen.get(sentence, 0) + 1
    # a sentence that fits in a sequence (with its document's end token) is in exactly one sequence
    assert all(count == 1 for s, count in seen.items() if lengths[s] + 1 <= SEQ - 1)
    assert any(count > 1 for count in seen.values())  # and longer ones were indeed continued


def test_line_mode_puts_one_line_per_sequence():
    for row in pack_docs(synthetic(), SEQ, BOS, EOS, PAD, "line"):
        assert len({t for t in content(row) if t != EOS}) == 1


def test_unit_cuts_follow_sentences_and_lines_in_token_space(tiny_tokenizer):
    text = "Le patient a de la fièvre. Il tousse! Traitement: amoxicilline.\nLigne deux"
    enc = tiny_tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    starts = [a for a, _ in enc["offset_mapping"]]
    ids = enc["input_ids"]
    sentence = unit_cuts(text, starts, "sentence")
    bounds = sentence + [len(ids)]
    pieces = [tiny_tokenizer.decode(ids[a:b]).strip() for a, b in zip(bounds, bounds[1:])]
    assert pieces == ["Le patient a de la fièvre.", "Il tousse!", "Traitement: amoxicilline.", "Ligne deux"]
    line = unit_cuts(text, starts, "line")
    assert len(line) == 2 and tiny_tokenizer.decode(ids[line[1]:]).strip() == "Ligne deux"
    assert unit_cuts(text, starts, "pack") == [0]
