from __future__ import annotations

import torch

from medforge.data.collator import MLMCollator


def batch(tokenizer, n=64, length=128):
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(5, len(tokenizer), (n, length), generator=g)
    ids[:, 0] = tokenizer.bos_token_id
    ids[:, 50] = tokenizer.eos_token_id
    ids[-1, 100:] = tokenizer.pad_token_id
    return [{"input_ids": row} for row in ids]


def test_masking_rates_and_80_10_10(tiny_tokenizer):
    collator = MLMCollator(tiny_tokenizer, 0.15, 0.8, 0.1, generator=torch.Generator().manual_seed(1))
    examples = batch(tiny_tokenizer)
    original = torch.stack([e["input_ids"] for e in examples])
    out = collator(examples)
    selected = out["labels"] != -100
    maskable = ~torch.isin(original, torch.tensor(tiny_tokenizer.all_special_ids))
    rate = selected.sum() / maskable.sum()
    assert 0.13 < rate < 0.17
    assert torch.equal(out["labels"][selected], original[selected])
    masked = (out["input_ids"] == tiny_tokenizer.mask_token_id) & selected
    kept = (out["input_ids"] == original) & selected
    n = selected.sum()
    assert 0.76 < masked.sum() / n < 0.84
    assert 0.07 < kept.sum() / n < 0.13  # unchanged (random replacements can also hit the original)
    assert torch.equal(out["input_ids"][~selected], original[~selected])  # unselected never change


def test_special_and_padding_tokens_are_never_targets(tiny_tokenizer):
    collator = MLMCollator(tiny_tokenizer, 0.9, 0.8, 0.1, generator=torch.Generator().manual_seed(2))
    examples = batch(tiny_tokenizer)
    original = torch.stack([e["input_ids"] for e in examples])
    out = collator(examples)
    special = torch.isin(original, torch.tensor(tiny_tokenizer.all_special_ids))
    assert (out["labels"][special] == -100).all()
    assert (out["attention_mask"][-1, 100:] == 0).all() and (out["attention_mask"][0] == 1).all()
    random_ids = out["input_ids"][(out["input_ids"] != original)]
    random_ids = random_ids[random_ids != tiny_tokenizer.mask_token_id]
    assert not torch.isin(random_ids, torch.tensor(tiny_tokenizer.all_special_ids)).any()


def test_masks_are_redrawn_each_time_and_reproducible_with_a_seed(tiny_tokenizer):
    examples = batch(tiny_tokenizer, n=4)
    collator = MLMCollator(tiny_tokenizer, generator=torch.Generator().manual_seed(3))
    first, second = collator(examples)["labels"], collator(examples)["labels"]
    assert not torch.equal(first, second)  # dynamic masking
    again = MLMCollator(tiny_tokenizer, generator=torch.Generator().manual_seed(3))(examples)["labels"]
    assert torch.equal(first, again)


def test_a_batch_always_has_a_target(tiny_tokenizer):
    collator = MLMCollator(tiny_tokenizer, 1e-6, generator=torch.Generator().manual_seed(4))
    out = collator([{"input_ids": torch.tensor([0, 10, 11, 2])}])
    assert (out["labels"] != -100).sum() == 1


def test_random_replacement_never_draws_special_or_filler_tokens(tmp_path, sample_texts):
    """Fillers pad the vocabulary to a multiple of 64 and are never seen in training: not a replacement."""
    from transformers import AutoTokenizer

    from medforge.tokenizer.config import TokenizerConfig
    from medforge.tokenizer.train import train_tokenizer

    train_tokenizer(iter(sample_texts[:40]), TokenizerConfig(vocab_size=2000), tmp_path, 0, [])
    tokenizer = AutoTokenizer.from_pretrained(tmp_path)
    fillers = [i for t, i in tokenizer.get_vocab().items() if t.startswith("<unused")]
    assert fillers  # the small corpus cannot fill 2000 entries
    collator = MLMCollator(tokenizer, 0.5, 0.0, 1.0, generator=torch.Generator().manual_seed(0))
    ordinary = set(collator.ordinary_ids.tolist())
    assert not ordinary & set(fillers) and not ordinary & set(tokenizer.all_special_ids)
    assert len(ordinary) == len(tokenizer) - len(fillers) - len(set(tokenizer.all_special_ids))
