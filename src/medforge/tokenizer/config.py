from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from medforge.config import opt
from medforge.errors import ConfigError

ALGORITHMS = ("byte_bpe", "sp_bpe", "sp_unigram", "wordpiece")


@dataclass
class TokenizerConfig:
    algorithm: Literal["byte_bpe", "sp_bpe", "sp_unigram", "wordpiece"] = opt(
        "byte_bpe", "byte_bpe: byte-level BPE (RoBERTa, bio-lm; never <unk>). sp_bpe: SentencePiece BPE (DrBERT). "
                    "sp_unigram: SentencePiece Unigram (CamemBERT, JMedRoBERTa). wordpiece: BERT/PubMedBERT.")
    family: Literal["roberta", "camembert", "bert"] = opt(
        "roberta", "Special-token layout and loading class: roberta (<s> <pad> </s> <unk> <mask> = 0-4), camembert "
                   "(CamemBERT's layout: bos=5, eos=6, <mask> last), bert ([PAD] [UNK] [CLS] [SEP] [MASK] = 0-4).")
    vocab_size: int = opt(8000, "Target vocabulary size, special tokens included. Small corpora may yield fewer.")
    vocab_multiple: int = opt(64, "Pad the vocabulary with unused entries up to a multiple of this (64 gives "
                                  "faster matrix shapes); 1 disables.")
    min_frequency: int = opt(2, "BPE/WordPiece: a merge or piece must occur at least this often.")
    lowercase: bool = opt(False, "Lowercase text inside the tokenizer (an uncased vocabulary).")
    fullwidth: bool = opt(False, "Japanese: NFKC, then ASCII to full-width, inside the tokenizer "
                                 "(JMedRoBERTa's convention), so every input is normalised the same way.")
    pre_segment: Literal["none", "mecab"] = opt(
        "none", "Japanese: split words with MeCab (fugashi + unidic-lite) before training and encoding, so "
                "that whole-word masking sees word boundaries.")
    character_coverage: float = opt(0.9995, "SentencePiece: share of characters covered; the rest become <unk>.")
    sample_mb: float = opt(1000.0, "Train on a seeded sample of at most this many MB of text, drawn while "
                                   "streaming, so memory stays bounded on huge corpora; 0 means all of it.")

    base: str | None = opt(None, "Keep this tokenizer (folder or hub id) instead of training one, as continual "
                                 "pre-training does: it is saved here, checked and measured on held-out text.")

    def validate(self, source: str) -> None:
        if self.vocab_multiple < 1:
            raise ConfigError(f"{source}: 'tokenizer.vocab_multiple' must be at least 1, got {self.vocab_multiple}")
        if self.vocab_size < 100:
            raise ConfigError(f"{source}: 'tokenizer.vocab_size' {self.vocab_size} is too small to hold an "
                              "alphabet and the special tokens; use at least 100 (300 for byte_bpe)")
        if self.algorithm == "byte_bpe" and self.vocab_size < 300:
            raise ConfigError(f"{source}: 'tokenizer.vocab_size' must be at least 300 for byte_bpe "
                              f"(256 byte symbols + special tokens), got {self.vocab_size}")
        if not 0.9 <= self.character_coverage <= 1.0:
            raise ConfigError(f"{source}: 'tokenizer.character_coverage' must be in [0.9, 1], "
                              f"got {self.character_coverage}")
        if self.sample_mb < 0:
            raise ConfigError(f"{source}: 'tokenizer.sample_mb' must be >= 0, got {self.sample_mb}")

    def input_paths(self) -> list[str]:
        return [self.base] if self.base else []
