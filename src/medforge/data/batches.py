"""A seekable stream of training batches, the same whichever number of processes reads it.

The sequences are read as one endless stream: the permutation of epoch 0, then that of epoch 1
(each drawn from ``seed + epoch``), and so on. Global batch k is positions [k*G, (k+1)*G) of that
stream, so every global batch is full (an epoch's tail continues into the next epoch, nothing is
dropped) and a checkpoint only needs one number, the position, to resume by seeking, never by
replaying batches. Process r of w takes its slice of each global batch. Every sequence is masked
from its own seed (run seed, epoch, sequence), so masks do not depend on how batches are split.
"""

from __future__ import annotations

import hashlib

import torch


def sequence_seed(seed: int, epoch: int, index: int) -> int:
    """The masking seed of one sequence in one epoch.

    torch's CPU generator (mt19937) keeps only the low 32 bits of a seed, so every part is hashed
    into them; otherwise the epoch is lost and masks stop being re-drawn (static masking)."""
    return int.from_bytes(hashlib.blake2b(f"{seed}:{epoch}:{index}".encode(), digest_size=4).digest(), "big")


class BatchStream:
    def __init__(self, dataset, batch_size: int, collator, seed: int, position: int = 0, rank: int = 0,
                 world: int = 1):
        if len(dataset) == 0:
            raise ValueError("no training sequence to draw batches from")
        self.dataset, self.batch_size, self.collator, self.seed = dataset, batch_size, collator, seed
        self.rank, self.world = rank, world
        self.position = position  # sequences of the stream consumed so far, by all processes
        self._order: tuple[int, torch.Tensor] | None = None

    @property
    def epoch(self) -> int:
        return self.position // len(self.dataset)

    def _permutation(self, epoch: int) -> torch.Tensor:
        if self._order is None or self._order[0] != epoch:
            self._order = (epoch, torch.randperm(len(self.dataset), generator=torch.Generator().manual_seed(
                self.seed + epoch)))
        return self._order[1]

    def _take(self, start: int, count: int) -> list[tuple[int, int]]:
        """(epoch, dataset index) of stream positions [start, start + count)."""
        n, picks = len(self.dataset), []
        for position in range(start, start + count):
            epoch = position // n
            picks.append((epoch, int(self._permutation(epoch)[position % n])))
        return picks

    def mask_seed(self, epoch: int, index: int) -> int:
        return sequence_seed(self.seed, epoch, index)

    def __iter__(self):
        return self

    def __next__(self) -> dict:
        global_batch = self.batch_size * self.world
        mine = self._take(self.position + self.rank * self.batch_size, self.batch_size)
        self.position += global_batch
        rows = self.dataset[[index for _, index in mine]]
        examples = [dict(zip(rows, values)) for values in zip(*rows.values())]
        return self.collator(examples, seeds=[self.mask_seed(epoch, index) for epoch, index in mine])
