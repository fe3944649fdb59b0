"""Fill-mask inference: the top-k tokens for every mask in every input, batched."""

from __future__ import annotations

import torch
from transformers import AutoModelForMaskedLM, AutoTokenizer

from medforge import paths
from medforge.errors import InputError, MedforgeError
from medforge.progress import bar


def load(model: str):
    name = paths.model_ref(model)
    try:
        tokenizer = AutoTokenizer.from_pretrained(name)
        mlm = AutoModelForMaskedLM.from_pretrained(name).eval()
    except OSError as exc:
        raise MedforgeError(f"cannot load a masked language model from {name!r}: {exc}") from None
    return tokenizer, mlm


@torch.no_grad()
def fill_mask(tokenizer, model, texts: list[str], top_k: int = 5, batch_size: int = 16,
              targets: list[str] | None = None) -> list[dict]:
    """Top-k tokens per mask; with ``targets``, only those words are ranked (scores stay probabilities
    over the whole vocabulary, as in transformers' pipeline)."""
    results = []
    allowed = torch.tensor([target_id(tokenizer, t) for t in targets]) if targets else None
    mask = tokenizer.mask_token
    for text in texts:
        if mask not in text:
            raise InputError(f"no {mask} in {text!r}; mark the word to predict with {mask}")
    for start in bar(range(0, len(texts), batch_size), desc="fill-mask", unit="batch", leave=False):
        chunk = texts[start:start + batch_size]
        batch = tokenizer(chunk, return_tensors="pt", padding=True, truncation=True)
        probs = model(**batch).logits.float().softmax(-1)
        for row, text in enumerate(chunk):
            ids = batch["input_ids"][row]
            positions = (ids == tokenizer.mask_token_id).nonzero().squeeze(1).tolist()
            masks = []
            for position in positions:
                if allowed is None:
                    scores, token_ids = probs[row, position].topk(min(top_k, probs.size(-1)))
                else:
                    scores, order = probs[row, position, allowed].topk(min(top_k, len(allowed)))
                    token_ids = allowed[order]
                masks.append({"position": position, "predictions": [
                    {"token": int(t), "token_str": tokenizer.decode([int(t)]), "score": float(s)}
                    for s, t in zip(scores, token_ids)]})
            results.append({"text": text, "masks": masks})
    return results


def target_id(tokenizer, word: str) -> int:
    """The single vocabulary entry for a target word (as it would appear after a space, if that is how
    the vocabulary spells word starts)."""
    for form in (" " + word, word):
        ids = tokenizer(form, add_special_tokens=False)["input_ids"]
        if len(ids) == 1:
            return ids[0]
    pieces = tokenizer.tokenize(word)
    raise InputError(f"target {word!r} is {len(pieces)} tokens ({' '.join(pieces)}); fill-mask ranks single "
                     "vocabulary entries: give words the vocabulary holds whole")
