"""Special-token layouts per model family, and the checks every saved tokenizer must pass."""

from __future__ import annotations

from medforge.errors import MedforgeError

# RoBERTa's layout: ids 0..4 in this order, as fairseq's dictionary puts them.
ROBERTA_SPECIALS = ("<s>", "<pad>", "</s>", "<unk>", "<mask>")


def check_special_tokens(tokenizer, where: str, vocab_size: int | None = None) -> dict[str, int]:
    """Every special token present, with a distinct id below the vocabulary size, and mask != unk."""
    ids = {}
    for name in ("bos_token", "eos_token", "unk_token", "pad_token", "mask_token", "cls_token", "sep_token"):
        token = getattr(tokenizer, name, None)
        if token is None:
            continue
        token_id = tokenizer.convert_tokens_to_ids(str(token))
        if token_id is None or (name != "unk_token" and token_id == tokenizer.unk_token_id):
            raise MedforgeError(f"{where}: special token {name}={token!r} is not in the vocabulary "
                                f"(it maps to unk); retrain or re-export the tokenizer")
        ids[name] = token_id
    limit = vocab_size if vocab_size is not None else len(tokenizer)
    for name, token_id in ids.items():
        if not 0 <= token_id < limit:
            raise MedforgeError(f"{where}: {name} has id {token_id}, outside the vocabulary of {limit}")
    distinct = {k: v for k, v in ids.items() if k not in ("cls_token", "sep_token")}
    if len(set(distinct.values())) != len(distinct):
        raise MedforgeError(f"{where}: special tokens share ids {distinct}; each needs its own id")
    return ids
