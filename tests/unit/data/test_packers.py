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


def reference_greedy(docs, seq_len):
    """The packing rule spelled out one token at a time: documents end to end with an end token each, a
    start token per row, cut every seq_len - 1 tokens, the last row padded."""
    stream = [(t, s) for ids, starts, _ in docs for t, s in [*zip(ids, starts), (EOS, 1)]]
    width = seq_len - 1
    rows = []
    for i in range(0, len(stream), width):
        part = stream[i:i + width]
        n = len(part) + 1
        rows.append({"input_ids": [BOS] + [t for t, _ in part] + [PAD] * (seq_len - n),
                     "starts": [1] + [s for _, s in part] + [1] * (seq_len - n), "n_real": n})
    return rows


@pytest.mark.parametrize("chunk", [1, 3, 7, 1024])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_array_packing_equals_the_rule_token_by_token_at_any_chunk_size(chunk, seed):
    from medforge.data.packers import chunks_of, greedy, rows_of

    rng = random.Random(seed)
    docs = synthetic(n_docs=30, seed=seed)
    docs.insert(5, ([], [], [0]))  # an empty document still ends with its end token
    docs = [(ids, [rng.randint(0, 1) for _ in ids], cuts) for ids, _, cuts in docs]
    rows = list(rows_of(greedy(chunks_of(docs, size=chunk), SEQ, BOS, EOS, PAD)))
    assert rows == reference_greedy(docs, SEQ)
    # a stream that fills its last row exactly leaves no padded row behind
    exact = [([7] * (SEQ - 2), [1] * (SEQ - 2), [0])] * 3
    assert [r["n_real"] for r in rows_of(greedy(chunks_of(exact, size=chunk), SEQ, BOS, EOS, PAD))] == [SEQ] * 3
