"""Dynamic MLM masking: a fresh draw every time a batch is built.

Of the non-special, non-padding tokens, ``mlm_probability`` are selected as targets; of those,
``mask_replace_prob`` become the mask token, ``random_replace_prob`` a random ordinary token,
and the rest stay as they are (BERT's 80/10/10 by default, decided per token).

Whole-word masking selects words instead of tokens: each word is drawn with
``mlm_probability`` and all its tokens become targets. Words come from the ``starts`` flags
that packing stores (the fast tokenizer's ``word_ids()``), so the same code serves WordPiece
(``##``), byte-level BPE (``Ġ``), SentencePiece (``▁``) and MeCab-segmented Japanese;
``DataCollatorForWholeWordMask`` only knew ``##``.

Training masks come from per-sequence keys (``rng.row_keys``: run seed, epoch, sequence): every draw
is a hash of (key, position), computed for the whole batch in a few numpy operations, so a
sequence's mask never depends on its batch, process or data worker. A batch-level
``torch.Generator`` serves tests and benchmarks that need no such guarantee.
"""

from __future__ import annotations

import re

import numpy as np
import torch

from medforge import rng

# vocabulary fillers (ours are <unusedN>, Google BERT's [unusedN]): never seen in training, so never a
# sensible random replacement
_FILLER = re.compile(r"^[<\[]unused\d+[>\]]$")


class MLMCollator:
    def __init__(self, tokenizer, mlm_probability: float = 0.15, mask_replace_prob: float = 0.8,
                 random_replace_prob: float = 0.1, generator: torch.Generator | None = None,
                 whole_word: bool = False):
        self.mask_id = tokenizer.mask_token_id
        self.pad_id = tokenizer.pad_token_id
        self.special_ids = torch.tensor(sorted(set(tokenizer.all_special_ids)), dtype=torch.long)
        fillers = [i for t, i in tokenizer.get_vocab().items() if _FILLER.match(t)]
        excluded = torch.cat([self.special_ids, torch.tensor(fillers, dtype=torch.long)])
        vocab = torch.arange(len(tokenizer), dtype=torch.long)
        self.ordinary_ids = vocab[~torch.isin(vocab, excluded)]  # what random replacement draws from
        self.mlm_probability = mlm_probability
        self.mask_replace_prob = mask_replace_prob
        self.random_replace_prob = random_replace_prob
        self.generator = generator
        self.whole_word = whole_word

    def __call__(self, examples: list[dict], seeds=None) -> dict[str, torch.Tensor]:
        """Mask a batch. With ``seeds`` (one 64-bit key per example, ``rng.row_keys``), each example's mask
        depends on its key only, not on the batch it is in: a run split over processes masks exactly like
        one process."""
        input_ids = np.stack([np.asarray(e["input_ids"]) for e in examples])
        starts = np.stack([np.asarray(e["starts"]) for e in examples]) if self.whole_word else None
        return self.collate(input_ids, starts, None if seeds is None else np.asarray(seeds, dtype=np.uint64))

    def collate(self, input_ids: np.ndarray, starts: np.ndarray | None = None,
                keys: np.ndarray | None = None) -> dict[str, torch.Tensor]:
        """The batch as arrays (rows of equal length, as packing writes them): no Python loop per row."""
        ids = torch.from_numpy(np.ascontiguousarray(input_ids, dtype=np.int64))
        word_starts = torch.from_numpy(np.ascontiguousarray(starts, dtype=np.int64)) if starts is not None else None
        attention_mask = (ids != self.pad_id).long()
        masked, labels = self.mask(ids, word_starts, keys)
        return {"input_ids": masked, "attention_mask": attention_mask, "labels": labels}

    def _draws(self, shape, keys):
        """Two uniforms and a random ordinary token per position, from the batch generator or per-row keys."""
        n_ordinary = len(self.ordinary_ids)
        if keys is None:
            g = self.generator
            return (torch.rand(shape, generator=g), torch.rand(shape, generator=g),
                    torch.randint(n_ordinary, shape, generator=g))
        pick, draw, token = rng.streams(np.asarray(keys, dtype=np.uint64), shape[1], 3)
        return (torch.from_numpy(rng.unit(pick)), torch.from_numpy(rng.unit(draw)),
                torch.from_numpy((token % np.uint64(n_ordinary)).astype(np.int64)))

    def mask(self, input_ids: torch.Tensor, starts: torch.Tensor | None = None,
             seeds=None) -> tuple[torch.Tensor, torch.Tensor]:
        input_ids = input_ids.clone()
        pick, draw, random_ids = self._draws(input_ids.shape, seeds)
        maskable = ~torch.isin(input_ids, self.special_ids)
        chosen = pick < self.mlm_probability
        if starts is not None:  # whole words: the draw at a word's index decides for all its tokens
            chosen = torch.gather(chosen, 1, (starts.cumsum(dim=1) - 1).clamp(min=0))
        selected = chosen & maskable
        # With per-sequence seeds a row may draw no target: it simply adds nothing to the loss, which is
        # a sum over targets divided by their count over the global batch. Forcing one per row would
        # inflate the rate of short rows (23% instead of 15% at <= 20 tokens) and break whole words.
        # Without seeds (a batch-level generator), a batch with no target at all would give a NaN mean:
        # the word of the maskable token with the smallest draw becomes a target, whole.
        if seeds is None and not selected.any() and maskable.any():
            flat = torch.where(maskable, pick, 2.0).view(-1).argmin()
            row, col = divmod(int(flat), input_ids.shape[1])
            if starts is None:
                selected[row, col] = True
            else:
                word = starts[row].cumsum(0)
                selected[row] = (word == word[col]) & maskable[row]
        labels = torch.where(selected, input_ids, torch.full_like(input_ids, -100))
        to_mask = selected & (draw < self.mask_replace_prob)
        to_random = selected & (draw >= self.mask_replace_prob) & (
            draw < self.mask_replace_prob + self.random_replace_prob)
        input_ids[to_mask] = self.mask_id
        input_ids[to_random] = self.ordinary_ids[random_ids[to_random]]
        return input_ids, labels
