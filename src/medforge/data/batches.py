"""A seekable stream of training batches, the same whichever number of processes or data workers reads it.

The sequences are read as one endless stream: the permutation of epoch 0, then that of epoch 1
(each drawn from ``seed + epoch``), and so on. Global batch k is positions [k*G, (k+1)*G) of that
stream, so every global batch is full (an epoch's tail continues into the next epoch, nothing is
dropped) and a checkpoint only needs one number, the position, to resume by seeking, never by
replaying batches. Process r of w takes its slice of each global batch. Every sequence is masked
from its own key (run seed, epoch, sequence), so masks do not depend on how batches are split.

``batch_at(position)`` builds this process's micro-batch from nothing but its stream position: the
DataLoader workers of ``data.loader`` build batches ahead of the training loop, in any order, and
still give the same batches.
"""

from __future__ import annotations

import numpy as np
import torch

from medforge import rng


def sequence_seed(seed: int, epoch: int, index: int) -> int:
    """The masking key of one sequence in one epoch (``rng.row_keys`` for one sequence)."""
    return int(rng.row_keys(seed, epoch, np.asarray([index]))[0])


class BatchStream:
    def __init__(self, dataset, batch_size: int, collator, seed: int, position: int = 0, rank: int = 0,
                 world: int = 1):
        if len(dataset) == 0:
            raise ValueError("no training sequence to draw batches from")
        self.dataset, self.batch_size, self.collator, self.seed = dataset, batch_size, collator, seed
        self.rank, self.world = rank, world
        self.position = position  # sequences of the stream consumed so far, by all processes
        self._rows = dataset.with_format("numpy")  # Arrow columns as arrays, never Python lists
        self._order: tuple[int, np.ndarray] | None = None

    @property
    def epoch(self) -> int:
        return self.position // len(self.dataset)

    @property
    def global_batch(self) -> int:
        return self.batch_size * self.world

    def _permutation(self, epoch: int) -> np.ndarray:
        if self._order is None or self._order[0] != epoch:
            order = torch.randperm(len(self.dataset), generator=torch.Generator().manual_seed(self.seed + epoch))
            self._order = (epoch, order.numpy())
        return self._order[1]

    def take(self, start: int, count: int) -> tuple[np.ndarray, np.ndarray]:
        """(epochs, dataset indices) of stream positions [start, start + count)."""
        n = len(self.dataset)
        positions = np.arange(start, start + count, dtype=np.int64)
        epochs = positions // n
        indices = np.empty(count, dtype=np.int64)
        for epoch in np.unique(epochs):  # at most two: a batch spans one epoch boundary at most
            here = epochs == epoch
            indices[here] = self._permutation(int(epoch))[positions[here] % n]
        return epochs, indices

    def _take(self, start: int, count: int) -> list[tuple[int, int]]:
        epochs, indices = self.take(start, count)
        return list(zip(epochs.tolist(), indices.tolist()))

    def mask_seed(self, epoch: int, index: int) -> int:
        return sequence_seed(self.seed, epoch, index)

    def batch_at(self, position: int) -> dict:
        """This process's share of the global micro-batch that starts at stream ``position``, masked."""
        epochs, indices = self.take(position + self.rank * self.batch_size, self.batch_size)
        order = np.argsort(indices, kind="stable")  # Arrow reads sorted indices fastest
        rows = self._rows[indices[order]]
        back = np.empty_like(order)
        back[order] = np.arange(len(order))
        starts = _matrix(rows["starts"])[back] if self.collator.whole_word else None
        return self.collator.collate(_matrix(rows["input_ids"])[back], starts,
                                     rng.row_keys(self.seed, epochs, indices))

    def __iter__(self):
        return self

    def __next__(self) -> dict:
        batch = self.batch_at(self.position)
        self.position += self.global_batch
        return batch


def _matrix(column) -> np.ndarray:
    """Packed rows all have one length: datasets gives a 2-D array (or, at worst, an array of rows)."""
    return column if getattr(column, "ndim", 0) == 2 else np.stack(list(column))
