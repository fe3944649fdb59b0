from __future__ import annotations

import random

from medforge.tasks.windows import IGNORE, collate, encode_sentences
from medforge.tokenizer.load import load_word_tokenizer


def words_of(tokenizer_dir):
    return load_word_tokenizer(str(tokenizer_dir))


def test_every_word_gets_exactly_one_labelled_position(tiny_tokenizer_dir):
    tok = words_of(tiny_tokenizer_dir)
    rng = random.Random(0)
    vocab = "patient fever pneumopathie the of a traitement insuffisance cardiaque 12 mg ; .".split()
    sentences = [[rng.choice(vocab) for _ in range(rng.randint(1, 90))] for _ in range(40)]
    tags = [["B-X" if i % 3 == 0 else "O" for i in range(len(s))] for s in sentences]
    label2id = {"O": 0, "B-X": 1, "I-X": 2}
    windows = encode_sentences(tok, sentences, tags, label2id, max_length=24)
    covered = {}
    for w in windows:
        assert len(w.input_ids) <= 24 and w.input_ids[0] == tok.bos_token_id and w.input_ids[-1] == tok.eos_token_id
        labelled = [i for i, label in enumerate(w.labels) if label != IGNORE]
        assert labelled == w.word_positions
        for k, position in enumerate(w.word_positions):
            key = (w.sentence, w.first_word + k)
            assert key not in covered
            covered[key] = w.labels[position]
    expected = {(s, i): label2id[t] for s, sent in enumerate(tags) for i, t in enumerate(sent)}
    assert covered == expected  # every word once, with its own label
    assert len(windows) > len(sentences)  # long sentences were windowed, not truncated


def test_long_sentences_get_context_words_on_both_sides_of_each_cut(tiny_tokenizer_dir):
    tok = words_of(tiny_tokenizer_dir)
    words = [f"w{i}" for i in range(60)]
    label2id = {"O": 0}
    windows = encode_sentences(tok, [words], [["O"] * 60], label2id, max_length=32, context=6)
    assert len(windows) >= 3
    assert [w.first_word for w in windows] == sorted(w.first_word for w in windows)
    def tokens(chunk):
        return len(tok(chunk, is_split_into_words=True, add_special_tokens=False)["input_ids"])

    for k, w in enumerate(windows):
        own = tokens(words[w.first_word:w.first_word + len(w.word_positions)])
        left = w.word_positions[0] - 1  # after the opening special token
        right = len(w.input_ids) - 2 - left - own
        assert len(w.input_ids) <= 32 and 0 <= left <= 6 and 0 <= right <= 6
        assert (left > 0) == (k > 0) and (right > 0) == (k < len(windows) - 1)  # context at every cut
    assert sum(len(w.word_positions) for w in windows) == 60
    plain = encode_sentences(tok, [words], [["O"] * 60], label2id, max_length=32, context=0)
    assert len(plain) < len(windows)  # context costs windows
    short = encode_sentences(tok, [words[:5]], [["O"] * 5], label2id, max_length=32, context=6)
    assert len(short) == 1 and len(short[0].input_ids) == tokens(words[:5]) + 2  # fits: no context needed


def test_all_subwords_labels_later_pieces_as_continuations(tiny_tokenizer_dir):
    tok = words_of(tiny_tokenizer_dir)
    words, tags = ["pneumopathie", "insuffisance", "a"], ["B-X", "I-X", "O"]
    label2id = {"O": 0, "B-X": 1, "I-X": 2}
    first = encode_sentences(tok, [words], [tags], label2id, 32)[0]
    every = encode_sentences(tok, [words], [tags], label2id, 32, all_subwords=True)[0]
    assert every.input_ids == first.input_ids and every.word_positions == first.word_positions
    pieces = [label for label in every.labels if label != IGNORE]
    n_first = len(tok(["pneumopathie"], is_split_into_words=True, add_special_tokens=False)["input_ids"])
    assert n_first > 1 and pieces[:n_first] == [1] + [2] * (n_first - 1)
    assert len(pieces) == len(every.input_ids) - 2 and pieces[-1] == 0


def test_a_word_longer_than_the_window_still_gets_its_prediction(tiny_tokenizer_dir):
    tok = words_of(tiny_tokenizer_dir)
    windows = encode_sentences(tok, [["a", "x" * 200, "b"]], [["O", "B-X", "O"]], {"O": 0, "B-X": 1}, 10)
    assert sum(len(w.word_positions) for w in windows) == 3


def test_collate_pads_and_masks(tiny_tokenizer_dir):
    tok = words_of(tiny_tokenizer_dir)
    windows = encode_sentences(tok, [["a"], ["a", "b", "c"]], None, {"O": 0}, 16)
    batch = collate(windows, tok.pad_token_id)
    assert batch["input_ids"].shape[0] == 2
    assert batch["attention_mask"][0].sum() == len(windows[0].input_ids)
    assert (batch["labels"] == IGNORE).all()  # no tags given: nothing to learn from


def test_length_grouped_batches_cover_every_window_once_with_little_padding():
    import random

    import torch

    from medforge.tasks.windows import length_grouped_batches

    rng = random.Random(0)
    lengths = [rng.randint(5, 120) for _ in range(1000)]
    batches = length_grouped_batches(lengths, 16, torch.Generator().manual_seed(0), group=10)
    assert sorted(i for b in batches for i in b) == list(range(1000))
    padded = sum(len(b) * max(lengths[i] for i in b) for b in batches)
    naive = len(lengths) * max(lengths)
    assert padded < 0.6 * naive and padded < 1.15 * sum(lengths)
    again = length_grouped_batches(lengths, 16, torch.Generator().manual_seed(1), group=10)
    assert again != batches  # a new order each epoch


def test_prediction_batched_by_length_gives_each_word_its_own_tag(tiny_tokenizer_dir):
    """Prediction batches windows by length, not in sentence order: every tag must still land on its own
    word, and padding must not change it (the same as predicting each window alone)."""
    import torch
    from transformers import BertConfig, BertForTokenClassification

    from medforge.tasks.windows import predict

    tok = words_of(tiny_tokenizer_dir)
    rng = random.Random(1)
    vocab = "patient fever pneumopathie the of a traitement insuffisance cardiaque 12 mg ; .".split()
    sentences = [[rng.choice(vocab) for _ in range(rng.randint(1, 40))] for _ in range(30)]
    windows = encode_sentences(tok, sentences, None, {"O": 0}, max_length=16)
    torch.manual_seed(0)
    model = BertForTokenClassification(BertConfig(
        vocab_size=len(tok), hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
        num_labels=5, pad_token_id=tok.pad_token_id))
    id2label = {i: f"T{i}" for i in range(5)}
    n_words = [len(s) for s in sentences]
    batched = predict(model, windows, n_words, id2label, 8, tok.pad_token_id, torch.device("cpu"))
    alone = predict(model, windows, n_words, id2label, 1, tok.pad_token_id, torch.device("cpu"))
    assert batched == alone and [len(tags) for tags in batched] == n_words
    assert len({tag for tags in batched for tag in tags}) > 1  # a model that tags everything alike would prove nothing
