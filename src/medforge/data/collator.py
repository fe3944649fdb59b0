"""Dynamic MLM masking: a fresh draw every time a batch is built.

Of the non-special, non-padding tokens, ``mlm_probability`` are selected as targets; of those,
``mask_replace_prob`` become the mask token, ``random_replace_prob`` a random ordinary token,
and the rest stay as they are (BERT's 80/10/10 by default, decided per token).

Whole-word masking selects words instead of tokens: each word is drawn with
``mlm_probability`` and all its tokens become targets. Words come from the ``starts`` flags
that packing stores (the fast tokenizer's ``word_ids()``), so the same code serves WordPiece
(``##``), byte-level BPE (``Ġ``), SentencePiece (``▁``) and MeCab-segmented Japanese;
``DataCollatorForWholeWordMask`` only knew ``##``.
"""

from __future__ import annotations

import torch


class MLMCollator:
    def __init__(self, tokenizer, mlm_probability: float = 0.15, mask_replace_prob: float = 0.8,
                 random_replace_prob: float = 0.1, generator: torch.Generator | None = None,
                 whole_word: bool = False):
        self.mask_id = tokenizer.mask_token_id
        self.pad_id = tokenizer.pad_token_id
        self.special_ids = torch.tensor(sorted(set(tokenizer.all_special_ids)), dtype=torch.long)
        vocab = torch.arange(len(tokenizer), dtype=torch.long)
        self.ordinary_ids = vocab[~torch.isin(vocab, self.special_ids)]
        self.mlm_probability = mlm_probability
        self.mask_replace_prob = mask_replace_prob
        self.random_replace_prob = random_replace_prob
        self.generator = generator
        self.whole_word = whole_word

    def __call__(self, examples: list[dict]) -> dict[str, torch.Tensor]:
        input_ids = torch.stack([torch.as_tensor(e["input_ids"], dtype=torch.long) for e in examples])
        starts = None
        if self.whole_word:
            starts = torch.stack([torch.as_tensor(e["starts"], dtype=torch.long) for e in examples])
        attention_mask = (input_ids != self.pad_id).long()
        input_ids, labels = self.mask(input_ids, starts)
        return {"input_ids": input_ids, "attention_mask": attention_mask, "labels": labels}

    def select(self, input_ids: torch.Tensor, starts: torch.Tensor | None) -> torch.Tensor:
        g = self.generator
        if starts is None:
            return torch.rand(input_ids.shape, generator=g) < self.mlm_probability
        word = starts.cumsum(dim=1) - 1  # word index of every token within its row
        chosen = torch.rand(input_ids.shape, generator=g) < self.mlm_probability  # one draw per word slot
        return torch.gather(chosen, 1, word.clamp(min=0))

    def mask(self, input_ids: torch.Tensor, starts: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        g = self.generator
        input_ids = input_ids.clone()
        maskable = ~torch.isin(input_ids, self.special_ids)
        selected = self.select(input_ids, starts) & maskable
        if not selected.any() and maskable.any():
            # A batch with no target would give a NaN loss; force one target instead.
            candidates = maskable.flatten().nonzero().squeeze(1)
            pick = candidates[torch.randint(len(candidates), (1,), generator=g)]
            selected.view(-1)[pick] = True
        labels = torch.where(selected, input_ids, torch.full_like(input_ids, -100))
        draw = torch.rand(input_ids.shape, generator=g)
        to_mask = selected & (draw < self.mask_replace_prob)
        to_random = selected & (draw >= self.mask_replace_prob) & (
            draw < self.mask_replace_prob + self.random_replace_prob)
        input_ids[to_mask] = self.mask_id
        n_random = int(to_random.sum())
        if n_random:
            picks = torch.randint(len(self.ordinary_ids), (n_random,), generator=g)
            input_ids[to_random] = self.ordinary_ids[picks]
        return input_ids, labels
