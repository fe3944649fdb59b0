"""Can the host feed a GPU? Masked batches per second with no model at all, and the share of time a
training loop would wait for them.

1. Host feed: real tokens/s that BatchStream + MLMCollator deliver (packed rows read from Arrow, masked,
   as tensors), at seq 128 and 512, batch 256, whole-word masking on and off, built in the loop (0
   workers) or ahead by 1 and 2 DataLoader workers; "per core" divides by the processes that build
   batches. Baseline in the same run: the previous masking (one torch.Generator per sequence, rows
   as Python lists), which capped the feed at ~0.3M tokens/s with whole-word masking.
2. Stall: a stand-in training step that sleeps a fixed time (50 ms: roughly roberta-base on 64x512 on
   an H100) instead of running a model; the stall is the share of wall time spent waiting for data.

    .venv/bin/python bench/host_feed.py [--batches 20] [--step-ms 50]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch
from datasets import Dataset
from transformers import AutoTokenizer

from medforge.data.batches import BatchStream
from medforge.data.collator import MLMCollator
from medforge.data.loader import Feed


def packed(n: int, seq_len: int, vocab: int, seed: int = 0) -> Dataset:
    """Packed rows as packing writes them: random ids, a word start every ~1.4 tokens, a padded tail."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(5, vocab, size=(n, seq_len), dtype=np.int32)
    ids[:, 0] = 0
    starts = (rng.random((n, seq_len)) < 0.7).astype(np.int8)
    starts[:, 0] = 1
    ids[-1, seq_len // 2:] = 1  # the last sequence padded, as in a real split
    return Dataset.from_dict({"input_ids": ids.tolist(), "starts": starts.tolist(),
                              "n_real": [seq_len] * n})


class PerSequenceGenerator(MLMCollator):
    """The masking this benchmark replaced: rows as Python lists, one torch.Generator per sequence."""

    def _draws(self, shape, keys):
        if keys is None:
            return super()._draws(shape, keys)
        rows = []
        for key in keys.tolist():
            g = torch.Generator().manual_seed(int(key) & 0xFFFFFFFF)
            rows.append((torch.rand(shape[1], generator=g), torch.rand(shape[1], generator=g),
                         torch.randint(len(self.ordinary_ids), (shape[1],), generator=g)))
        return tuple(torch.stack(column) for column in zip(*rows))


class ListRows(BatchStream):
    def batch_at(self, position: int) -> dict:
        epochs, indices = self.take(position + self.rank * self.batch_size, self.batch_size)
        rows = self.dataset[indices.tolist()]  # Python lists, as before
        examples = [dict(zip(rows, values)) for values in zip(*rows.values())]
        from medforge import rng

        return self.collator(examples, seeds=rng.row_keys(self.seed, epochs, indices))


def feed_rate(stream: BatchStream, workers: int, batches: int) -> float:
    """Real tokens per second delivered by a Feed over ``batches`` batches (after one to warm up)."""
    feed = Feed(stream, workers, prefetch=4)
    next(feed)
    start, tokens = time.perf_counter(), 0
    for _ in range(batches):
        tokens += int(next(feed)["attention_mask"].sum())
    return tokens / (time.perf_counter() - start)


def stall(stream: BatchStream, workers: int, batches: int, step_s: float) -> float:
    feed = Feed(stream, workers, prefetch=4)
    next(feed)
    waited, start = 0.0, time.perf_counter()
    for _ in range(batches):
        t = time.perf_counter()
        next(feed)
        waited += time.perf_counter() - t
        time.sleep(step_s)  # the stand-in training step
    return waited / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--step-ms", type=float, default=50.0)
    parser.add_argument("--tokenizer", default="", help="a tokenizer folder (default: a byte-level BPE of 50k "
                                                        "ids trained here on random text is not needed: ids only)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    from tokenizers import Tokenizer, models
    from transformers import PreTrainedTokenizerFast

    if args.tokenizer:
        tokenizer = AutoTokenizer.from_pretrained(args.tokenizer)
    else:  # ids only matter: a 50,265-entry vocabulary in RoBERTa's special-token layout
        vocab = {t: i for i, t in enumerate(["<s>", "<pad>", "</s>", "<unk>", "<mask>"] +
                                            [f"t{i}" for i in range(50260)])}
        tokenizer = PreTrainedTokenizerFast(tokenizer_object=Tokenizer(models.WordLevel(vocab, unk_token="<unk>")),
                                            bos_token="<s>", eos_token="</s>", pad_token="<pad>", unk_token="<unk>",
                                            mask_token="<mask>", cls_token="<s>", sep_token="</s>")
    print(f"host feed, {os.cpu_count()} cores, batch {args.batch_size}, {args.batches} batches per cell; "
          "real tokens/s per core (M)")
    print(f"{'seq':>4} {'wwm':>4} {'before (0 workers)':>19} {'0 workers':>10} {'1 worker':>9} {'2 workers':>10} "
          f"{'x before':>9}")
    for seq_len in (128, 512):
        data = packed(args.batch_size * 8, seq_len, len(tokenizer))
        for wwm in (False, True):
            collator = MLMCollator(tokenizer, 0.15, whole_word=wwm)
            old = ListRows(data, args.batch_size, PerSequenceGenerator(tokenizer, 0.15, whole_word=wwm), seed=1)
            before = feed_rate(old, 0, max(2, args.batches // 4))
            rates = [feed_rate(BatchStream(data, args.batch_size, collator, seed=1), w, args.batches) / max(w, 1)
                     for w in (0, 1, 2)]
            print(f"{seq_len:>4} {'on' if wwm else 'off':>4} {before / 1e6:>19.2f} {rates[0] / 1e6:>10.2f} "
                  f"{rates[1] / 1e6:>9.2f} {rates[2] / 1e6:>10.2f} {rates[0] / before:>9.1f}")
    data = packed(64 * 8, 512, len(tokenizer))
    print(f"\nstall against a {args.step_ms:.0f} ms stand-in step (batch 64 x 512, whole-word masking): share of "
          "wall time waiting for data")
    for workers in (0, 1, 2):
        stream = BatchStream(data, 64, MLMCollator(tokenizer, 0.15, whole_word=True), seed=1)
        print(f"  {workers} workers: {100 * stall(stream, workers, args.batches, args.step_ms / 1000):.1f}%")


if __name__ == "__main__":
    main()
