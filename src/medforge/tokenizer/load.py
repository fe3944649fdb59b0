"""Loading a tokenizer for text given as words (NER, audits)."""

from __future__ import annotations

from transformers import AutoTokenizer


def load_word_tokenizer(name_or_path: str):
    """A tokenizer for pre-split words: byte-level BPE needs ``add_prefix_space`` so that every word,
    not only the first, is encoded as a word that follows a space."""
    tokenizer = AutoTokenizer.from_pretrained(name_or_path)
    pre = getattr(getattr(tokenizer, "backend_tokenizer", None), "pre_tokenizer", None)
    if pre is not None and "ByteLevel" in repr(pre):
        tokenizer = AutoTokenizer.from_pretrained(name_or_path, add_prefix_space=True)
    return tokenizer
