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
    data = dataset(40)
    stream = BatchStream(data, 8, MLMCollator(tiny_tokenizer, 0.3), seed=0)
    masks = {}  # (epoch, sequence) -> which positions are targets
    for _ in range(15):  # three epochs of 40 sequences
        start = stream.position
        batch = next(stream)
        for row, (e, index) in enumerate(stream._take(start, 8)):
            masks[(e, index)] = tuple((batch["labels"][row] != -100).tolist())
    assert sorted(i for e, i in masks if e == 1) == list(range(40))  # each sequence once per epoch
    changed = sum(masks[(0, i)] != masks[(1, i)] for i in range(40))
    assert changed >= 35  # dynamic masking: the same sequence gets a new mask in a new epoch


def test_mask_seeds_differ_across_epochs_in_the_bits_the_generator_keeps(tiny_tokenizer):
    stream = BatchStream(dataset(), 2, MLMCollator(tiny_tokenizer), seed=5)
    low32 = {stream.mask_seed(epoch, 3) & 0xFFFFFFFF for epoch in range(50)}
    assert len(low32) == 50


def test_per_sequence_seeds_make_masks_independent_of_the_batch(tiny_tokenizer):
    collator = MLMCollator(tiny_tokenizer, 0.3)
    rows = [{"input_ids": r} for r in dataset(3)["input_ids"]]
    together = collator(rows, seeds=[11, 12, 13])
    alone = collator(rows[2:], seeds=[13])
    assert torch.equal(together["labels"][2], alone["labels"][0])
    assert torch.equal(together["input_ids"][2], alone["input_ids"][0])


def test_data_workers_deliver_exactly_the_batches_of_the_loop(tiny_tokenizer):
    """Batches built ahead by 2 DataLoader workers, in whatever order they finish, equal those the loop
    builds itself, across epoch boundaries and from a resumed position; creating the loader draws nothing
    from the global RNG (dropout and resume depend on it)."""
    from medforge.data.loader import Feed

    collator = MLMCollator(tiny_tokenizer, 0.3)
    inline = Feed(BatchStream(dataset(10), 4, collator, seed=7, position=8))
    torch.manual_seed(0)
    before = torch.get_rng_state()
    ahead = Feed(BatchStream(dataset(10), 4, collator, seed=7, position=8), workers=2, prefetch=2)
    for _ in range(9):
        a, b = next(inline), next(ahead)
        assert set(a) == set(b) and all(torch.equal(a[k], b[k].long()) for k in a)
        # handed over as one block: a single storage (one file descriptor, one pinned copy) for all three
        assert len({t.untyped_storage().data_ptr() for t in b.values()}) == 1
    assert inline.stream.position == ahead.stream.position == 8 + 9 * 4
    assert torch.equal(torch.get_rng_state(), before)


def test_masks_come_from_counters_not_from_a_generator_per_sequence(tiny_tokenizer):
    """The same key masks the same way in any batch, and a whole batch is drawn in one vectorised call."""
    import numpy as np

    from medforge import rng

    collator = MLMCollator(tiny_tokenizer, 0.3)
    rows = np.stack([np.asarray(r) for r in dataset(64, length=128)["input_ids"]])
    keys = rng.row_keys(3, 0, np.arange(64))
    whole = collator.collate(rows, None, keys)
    half = collator.collate(rows[32:], None, keys[32:])
    assert torch.equal(whole["labels"][32:], half["labels"]) and torch.equal(whole["input_ids"][32:], half["input_ids"])
    rate = (whole["labels"] != -100).sum() / (rows > 2).sum()
    assert 0.27 < float(rate) < 0.33
    other_epoch = collator.collate(rows, None, rng.row_keys(3, 1, np.arange(64)))
    assert not torch.equal(other_epoch["labels"], whole["labels"])
