"""Batches built ahead of the training loop, in DataLoader worker processes.

``BatchDataset`` is a map-style dataset whose item k is the micro-batch at stream position
``start + k * G`` (G: the global micro-batch) of one process: a batch depends on k alone, so workers
may build batches in any order and the loop still receives the stream a single process would read.
The DataLoader runs with its own generator, so creating it never draws from the global RNG (which
would shift dropout and break exact resume), pins memory for the GPU and keeps its workers between
epochs of the loop.

A worker hands a batch over as one int32 tensor (input ids, attention mask and labels as its three
planes): a tensor crosses the process boundary as a file descriptor passed over a socket, and three
int64 tensors cost about twice the wait of one block of half the bytes (measured with 2 workers on 2
cores). The loop widens them to int64 on the device.
"""

from __future__ import annotations

import os
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset

from medforge.data.batches import BatchStream

_ENDLESS = 1 << 40  # micro-batches: the loop stops before; a sampler needs a length


def default_workers() -> int:
    """A quarter of the cores, at most 8: on a 2-core machine none (the loop itself builds the batches)."""
    return min(8, (os.cpu_count() or 1) // 4)


class BatchDataset(Dataset):
    def __init__(self, stream: BatchStream, start: int):
        self.stream, self.start = stream, start

    def __len__(self) -> int:
        return _ENDLESS

    def __getitem__(self, k: int) -> torch.Tensor:
        batch = self.stream.batch_at(self.start + k * self.stream.global_batch)
        return torch.stack([batch[name].to(torch.int32) for name in PLANES])


PLANES = ("input_ids", "attention_mask", "labels")


class Feed:
    """The micro-batches of a stream from its current position, built ahead by ``workers`` processes (0:
    in the loop). Keeps the stream's position, so a checkpoint stores where the loop is, not where the
    workers are."""

    def __init__(self, stream: BatchStream, workers: int = 0, prefetch: int = 4, pin_memory: bool = False):
        self.stream, self.workers, self.prefetch, self.pin_memory = stream, workers, prefetch, pin_memory
        self._iter: Any = None  # workers start on the first batch asked for (the long phase's after the short)

    def __iter__(self):
        return self

    def __next__(self) -> dict:
        if not self.workers:
            return next(self.stream)
        if self._iter is None:
            self._iter = iter(DataLoader(BatchDataset(self.stream, self.stream.position), batch_size=None,
                                         shuffle=False, num_workers=self.workers, prefetch_factor=self.prefetch,
                                         pin_memory=self.pin_memory, persistent_workers=True,
                                         generator=torch.Generator()))
        block = next(self._iter)
        self.stream.position += self.stream.global_batch
        return dict(zip(PLANES, block))  # views of the one (pinned) block
