from __future__ import annotations

import torch
from datasets import Dataset

from medforge.data.batches import BatchStream
from medforge.data.collator import MLMCollator


def dataset(n=10, length=12):
    return Dataset.from_dict({"input_ids": [[0] + [5 + (i * 7 + j) % 50 for j in range(length - 2)] + [2]
                                            for i in range(n)]})


def ids(batch):
    return [tuple(row) for row in batch["labels"].tolist()], batch["input_ids"]


def test_two_ranks_split_exactly_what_one_process_reads(tiny_tokenizer):
    collator = MLMCollator(tiny_tokenizer)
    one = BatchStream(dataset(), 4, collator, seed=3)
    ranks = [BatchStream(dataset(), 2, collator, seed=3, rank=r, world=2) for r in range(2)]
    for _ in range(7):  # crosses epoch boundaries (10 sequences, global batch 4)
        whole = next(one)
        parts = [next(s) for s in ranks]
        assert torch.equal(torch.cat([p["input_ids"] for p in parts]), whole["input_ids"])
        assert torch.equal(torch.cat([p["labels"] for p in parts]), whole["labels"])
    assert one.position == ranks[0].position == 28 and one.epoch == 2


def test_seeking_to_a_position_continues_the_same_stream(tiny_tokenizer):
    collator = MLMCollator(tiny_tokenizer)
    stream = BatchStream(dataset(), 3, collator, seed=1)
    batches = [next(stream) for _ in range(6)]
    resumed = BatchStream(dataset(), 3, collator, seed=1, position=9)
    for expected in batches[3:]:
        got = next(resumed)
        assert torch.equal(got["input_ids"], expected["input_ids"]) and torch.equal(got["labels"], expected["labels"])


def test_every_sequence_is_read_once_per_epoch_and_remasked_next_epoch(tiny_tokenizer):
    stream = BatchStream(dataset(), 5, MLMCollator(tiny_tokenizer, 0.5), seed=0)
    first = torch.cat([next(stream)["labels"] for _ in range(2)])
    second = torch.cat([next(stream)["labels"] for _ in range(2)])
    assert not torch.equal(first, second)  # dynamic masking: new masks in a new epoch


def test_per_sequence_seeds_make_masks_independent_of_the_batch(tiny_tokenizer):
    collator = MLMCollator(tiny_tokenizer, 0.3)
    rows = [{"input_ids": r} for r in dataset(3)["input_ids"]]
    together = collator(rows, seeds=[11, 12, 13])
    alone = collator(rows[2:], seeds=[13])
    assert torch.equal(together["labels"][2], alone["labels"][0])
    assert torch.equal(together["input_ids"][2], alone["input_ids"][0])
