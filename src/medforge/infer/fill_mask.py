"""Fill-mask inference: the top-k tokens for every mask in every input, batched.

Only the mask marker is a control token: any other special-token string in the text (a literal
``<s>`` of HTML strike-through, ``</s>``, ``<pad>``) is spelled out as the text it is. A text
longer than the model can take is cut into a window around each mask, so no mask is lost to
truncation.
"""

from __future__ import annotations

import torch
from transformers import AutoModelForMaskedLM, AutoTokenizer

from medforge import paths
from medforge.errors import InputError, MedforgeError
from medforge.models.mlm import untrained_head
from medforge.models.presets import max_input_length
from medforge.progress import bar


def load(model: str):
    name = paths.model_ref(model)
    paths.check_model_folder(name, "masked language model")
    try:
        tokenizer = AutoTokenizer.from_pretrained(name)
        mlm, info = AutoModelForMaskedLM.from_pretrained(name, output_loading_info=True)
    except (OSError, ValueError) as exc:
        raise MedforgeError(f"cannot load a masked language model from {name!r}: {exc}") from None
    missing = untrained_head(mlm, info["missing_keys"])
    if missing:
        raise MedforgeError(f"{name}: no trained masked-LM head ({', '.join(missing[:3])} missing): it would "
                            "answer with random weights. Give a masked language model (RUN/model, "
                            "RUN/pretrain/model), not a fine-tuned classifier or a bare encoder")
    if tokenizer.mask_token is None:
        raise MedforgeError(f"{name}: its tokenizer has no mask token; it is not a masked language model's")
    return tokenizer, mlm.eval()


def encode(tokenizer, text: str) -> list[int]:
    """Ids with the model's special tokens around them; only the mask marker becomes a special id."""
    mask = tokenizer.mask_token
    if mask not in text:
        raise InputError(f"no {mask} in {text!r}; mark the word to predict with {mask}")
    others = [s for s in tokenizer.all_special_tokens if s != mask and s in text]
    if not others:  # the usual case: exactly what transformers' pipeline feeds the model
        return tokenizer(text)["input_ids"]
    mask_token = tokenizer.added_tokens_decoder.get(tokenizer.mask_token_id)
    lstrip = bool(getattr(mask_token, "lstrip", False))
    ids: list[int] = []
    parts = text.split(mask)
    for i, part in enumerate(parts):
        if i:
            ids.append(tokenizer.mask_token_id)
        if lstrip and i < len(parts) - 1:
            part = part.rstrip()  # the mask swallows the space before it, as in running text
        if part:
            ids += tokenizer(part, add_special_tokens=False, split_special_tokens=True)["input_ids"]
    prefix, suffix = _wrapping(tokenizer)
    return prefix + ids + suffix


def _wrapping(tokenizer) -> tuple[list[int], list[int]]:
    """The special ids the tokenizer puts before and after a single text (<s> ... </s>, [CLS] ... [SEP])."""
    wrapped = tokenizer("a")["input_ids"]
    bare = tokenizer("a", add_special_tokens=False)["input_ids"]
    for i in range(len(wrapped) - len(bare) + 1):
        if wrapped[i:i + len(bare)] == bare:
            return wrapped[:i], wrapped[i + len(bare):]
    raise MedforgeError("cannot tell which special tokens the tokenizer adds around a text")


def windows(ids: list[int], mask_id: int, limit: int) -> list[tuple[int, list[int]]]:
    """(offset, ids) pieces of at most ``limit`` ids covering every mask (each mask predicted in one
    window, with as much context on both sides as fits); the whole row when it fits."""
    if len(ids) <= limit:
        return [(0, ids)]
    first, last = ids[0], ids[-1]
    body, width = ids[1:-1], limit - 2
    out, covered = [], -1
    for position in (i for i, t in enumerate(body) if t == mask_id):
        if position <= covered:
            continue
        start = min(max(0, position - width // 2), max(0, len(body) - width))
        out.append((start, [first, *body[start:start + width], last]))
        covered = start + width - 1
    return out


@torch.no_grad()
def fill_mask(tokenizer, model, texts: list[str], top_k: int = 5, batch_size: int = 16,
              targets: list[str] | None = None) -> list[dict]:
    """Top-k tokens per mask; with ``targets``, only those words are ranked (scores stay probabilities
    over the whole vocabulary, as in transformers' pipeline). A mask's ``position`` indexes the whole
    text's ids (special tokens included), windowed or not."""
    if top_k < 1:
        raise InputError(f"top-k must be at least 1, got {top_k}")
    allowed = torch.tensor([target_id(tokenizer, t) for t in targets]) if targets else None
    limit = min(tokenizer.model_max_length, max_input_length(model.config))
    pieces = []  # (text index, offset, ids)
    for index, text in enumerate(texts):
        pieces += [(index, offset, ids) for offset, ids in windows(encode(tokenizer, text), tokenizer.mask_token_id,
                                                                    limit)]
    masks: list[list[dict]] = [[] for _ in texts]
    for start in bar(range(0, len(pieces), batch_size), desc="fill-mask", unit="batch", leave=False):
        chunk = pieces[start:start + batch_size]
        width = max(len(ids) for _, _, ids in chunk)
        input_ids = torch.full((len(chunk), width), tokenizer.pad_token_id, dtype=torch.long)
        attention = torch.zeros_like(input_ids)
        for row, (_, _, ids) in enumerate(chunk):
            input_ids[row, :len(ids)] = torch.tensor(ids)
            attention[row, :len(ids)] = 1
        probs = model(input_ids=input_ids, attention_mask=attention).logits.float().softmax(-1)
        for row, (index, offset, ids) in enumerate(chunk):
            for position in (i for i in range(1, len(ids) - 1) if ids[i] == tokenizer.mask_token_id):
                if any(m["position"] == offset + position for m in masks[index]):
                    continue  # seen in an earlier window
                if allowed is None:
                    scores, token_ids = probs[row, position].topk(min(top_k, probs.size(-1)))
                else:
                    scores, order = probs[row, position, allowed].topk(min(top_k, len(allowed)))
                    token_ids = allowed[order]
                masks[index].append({"position": offset + position, "predictions": [
                    {"token": int(t), "token_str": tokenizer.decode([int(t)]), "score": float(s)}
                    for s, t in zip(scores, token_ids)]})
    return [{"text": text, "masks": sorted(m, key=lambda m: m["position"])} for text, m in zip(texts, masks)]


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
