"""Whole-word masking for every tokenizer type, from the word-start flags packing stores."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoTokenizer

from medforge.data.collator import MLMCollator
from medforge.data.pack import Encoder
from medforge.tokenizer.config import TokenizerConfig
from medforge.tokenizer.train import train_tokenizer

KINDS = [("byte_bpe", "roberta", "Ġ"), ("sp_unigram", "camembert", "▁"), ("wordpiece", "bert", "##")]


@pytest.fixture(scope="module", params=KINDS, ids=[k[0] for k in KINDS])
def kind(request, tmp_path_factory, sample_texts):
    algorithm, family, marker = request.param
    folder = tmp_path_factory.mktemp(algorithm)
    train_tokenizer(iter(sample_texts), TokenizerConfig(algorithm=algorithm, family=family, vocab_size=500), folder,
                    0, [])
    return AutoTokenizer.from_pretrained(folder), marker


def rows(tokenizer, texts, length=96):
    examples = []
    table = Encoder(tokenizer, "pack")(texts)  # what packing stores
    for ids, starts in zip(table.column("ids").to_pylist(), table.column("starts").to_pylist()):
        ids, starts = ids[:length], starts[:length]
        pad = length - len(ids)
        examples.append({"input_ids": torch.tensor(ids + [tokenizer.pad_token_id] * pad),
                         "starts": torch.tensor(starts + [1] * pad)})
    return examples


def test_word_starts_follow_the_tokenizer_markers(kind, sample_texts):
    tokenizer, marker = kind
    table = Encoder(tokenizer, "pack")(sample_texts[:50])
    for text, ids, starts in zip(sample_texts, table.column("ids").to_pylist(), table.column("starts").to_pylist()):
        assert ids == tokenizer(text, add_special_tokens=False)["input_ids"]
        tokens = tokenizer.convert_ids_to_tokens(ids)
        assert len(starts) == len(tokens)
        for token, start in zip(tokens, starts):
            if marker == "##":
                assert start == (not token.startswith("##")), token
            elif token.startswith(marker):
                assert start == 1, token  # a word marker always begins a word


def test_whole_words_are_masked_together_at_the_requested_rate(kind, sample_texts):
    tokenizer, _ = kind
    examples = rows(tokenizer, sample_texts[:300])
    collator = MLMCollator(tokenizer, 0.15, generator=torch.Generator().manual_seed(0), whole_word=True)
    batch = collator(examples)
    starts = torch.stack([e["starts"] for e in examples])
    original = torch.stack([e["input_ids"] for e in examples])
    targets = batch["labels"] != -100
    maskable = ~torch.isin(original, torch.tensor(tokenizer.all_special_ids))
    words = starts.cumsum(1)
    n_split_words = 0
    for r in range(len(examples)):
        for w in words[r].unique():
            in_word = (words[r] == w) & maskable[r]
            if in_word.sum() > 1:
                n_split_words += 1
            chosen = targets[r][in_word]
            assert chosen.all() or not chosen.any(), "a word was masked in part"
    assert n_split_words > 50  # the check above saw many multi-token words
    rate = targets.sum() / maskable.sum()
    assert 0.11 < rate < 0.19


def test_token_level_masking_does_split_words(kind, sample_texts):
    tokenizer, _ = kind
    examples = rows(tokenizer, sample_texts[:300])
    batch = MLMCollator(tokenizer, 0.15, generator=torch.Generator().manual_seed(0))(examples)
    starts = torch.stack([e["starts"] for e in examples])
    targets = batch["labels"] != -100
    words = starts.cumsum(1)
    partial = sum(1 for r in range(len(examples)) for w in words[r].unique()
                  if 0 < targets[r][words[r] == w].sum() < (words[r] == w).sum())
    assert partial > 0  # so the whole-word test above is not passing by accident


def test_short_rows_keep_the_rate_and_whole_words(kind, sample_texts):
    """Rows of 20 tokens or fewer, each masked from its own seed (as in training): no row gets a forced
    extra target, so the rate stays at 15% and every word is masked whole (it was 23%, split words)."""
    tokenizer, _ = kind
    examples = [e for e in rows(tokenizer, sample_texts * 4, length=20)]
    collator = MLMCollator(tokenizer, 0.15, whole_word=True)
    batch = collator(examples, seeds=list(range(len(examples))))
    starts = torch.stack([e["starts"] for e in examples])
    original = torch.stack([e["input_ids"] for e in examples])
    targets = batch["labels"] != -100
    words = starts.cumsum(1)
    maskable = ~torch.isin(original, torch.tensor(tokenizer.all_special_ids))
    n_words = n_chosen = 0
    for r in range(len(examples)):
        for w in words[r][maskable[r]].unique():
            in_word = (words[r] == w) & maskable[r]
            assert targets[r][in_word].all() or not targets[r][in_word].any(), "a word was split"
            n_words += 1
            n_chosen += bool(targets[r][in_word].any())
    assert 0.13 < n_chosen / n_words < 0.17, n_chosen / n_words


def test_a_batch_without_targets_gets_one_whole_word(kind, sample_texts):
    tokenizer, _ = kind
    examples = rows(tokenizer, [t for t in sample_texts if len(t) > 80][:1], length=24)
    for seed in range(20):
        out = MLMCollator(tokenizer, 1e-9, generator=torch.Generator().manual_seed(seed), whole_word=True)(examples)
        targets = out["labels"][0] != -100
        words = examples[0]["starts"].cumsum(0)
        assert len(words[targets].unique()) == 1  # one word ...
        word = words[targets][0]
        maskable = ~torch.isin(examples[0]["input_ids"], torch.tensor(tokenizer.all_special_ids))
        assert targets[(words == word) & maskable].all()  # ... with all of its pieces
