"""A seekable stream of training batches.

Each epoch visits the sequences in a permutation drawn from ``seed + epoch``, so the position
(epoch, batch index) is all a checkpoint needs: resuming seeks there directly instead of
replaying the skipped batches (which takes hours on a real corpus).
"""

from __future__ import annotations

import torch


class BatchStream:
    def __init__(self, dataset, batch_size: int, collator, seed: int, epoch: int = 0, index: int = 0):
        if len(dataset) == 0:
            raise ValueError("no training sequence to draw batches from")
        self.dataset, self.batch_size, self.collator, self.seed = dataset, batch_size, collator, seed
        self.epoch, self.index = epoch, index  # the next batch to produce
        self._order = None

    @property
    def batches_per_epoch(self) -> int:
        return -(-len(self.dataset) // self.batch_size)

    def _permutation(self) -> torch.Tensor:
        if self._order is None or self._order[0] != self.epoch:
            generator = torch.Generator().manual_seed(self.seed + self.epoch)
            self._order = (self.epoch, torch.randperm(len(self.dataset), generator=generator))
        return self._order[1]

    def __iter__(self):
        return self

    def __next__(self) -> dict:
        if self.index >= self.batches_per_epoch:
            self.epoch, self.index = self.epoch + 1, 0
        picks = self._permutation()[self.index * self.batch_size:(self.index + 1) * self.batch_size].tolist()
        self.index += 1
        rows = self.dataset[picks]
        return self.collator([dict(zip(rows, values)) for values in zip(*rows.values())])

    def position(self) -> dict:
        return {"epoch": self.epoch, "batch_in_epoch": self.index}
