"""Held-out MLM loss: the same masks at every evaluation, whatever the number of processes."""

from __future__ import annotations

import math

import numpy as np
import torch

from medforge.data.collator import MLMCollator
from medforge.pretrain.config import PretrainConfig
from medforge.rng import row_keys


@torch.no_grad()
def evaluate_mlm(objective, dataset, tokenizer, cfg: PretrainConfig, seed: int, accelerator) -> dict:
    """Mean MLM loss over all masked tokens of the held-out split, and its perplexity.

    Every process scores its share of the batches (collective: sharded models need all of them);
    the sums are reduced, so the result does not depend on the number of processes. No DataLoader
    here: its iterator draws a seed from the global RNG, which would shift the training run's
    dropout and make a resumed run differ from an uninterrupted one.
    """
    objective.eval()
    collator = MLMCollator(tokenizer, cfg.mlm_probability, cfg.mask_replace_prob, cfg.random_replace_prob,
                           whole_word=cfg.whole_word_mask)
    sums = torch.zeros(2, dtype=torch.float64, device=accelerator.device)
    stride = cfg.batch_size * accelerator.num_processes
    arrays = dataset.with_format("numpy")
    for start in range(cfg.batch_size * accelerator.process_index, len(dataset), stride):
        rows = arrays[start:start + cfg.batch_size]
        # each held-out sequence always gets the same mask, whatever the batch size (epoch -1: never
        # one of training's)
        keys = row_keys(seed, -1, np.arange(start, start + len(rows["input_ids"])))
        batch = collator.collate(np.stack(list(rows["input_ids"])),
                                 np.stack(list(rows["starts"])) if cfg.whole_word_mask else None, keys)
        total, count = objective(**{k: v.to(accelerator.device) for k, v in batch.items()})
        sums += torch.stack([total.double(), count.double()])
    objective.train()
    total, count = accelerator.reduce(sums, "sum").tolist()
    mean = total / max(count, 1)
    return {"eval_loss": mean, "eval_perplexity": math.exp(min(mean, 50.0)), "eval_tokens": int(count)}
