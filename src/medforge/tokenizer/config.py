from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from medforge.config import opt
from medforge.errors import ConfigError


@dataclass
class TokenizerConfig:
    algorithm: Literal["byte_bpe"] = opt("byte_bpe", "Tokenizer algorithm. byte_bpe: byte-level BPE with "
                                                     "RoBERTa special tokens (never produces <unk>).")
    vocab_size: int = opt(8000, "Target vocabulary size, special tokens included. Small corpora may yield fewer.")
    min_frequency: int = opt(2, "A merge must occur at least this often in the corpus.")
    model_max_length: int = opt(512, "Longest input, in tokens, that models using this tokenizer accept.")

    def validate(self, source: str) -> None:
        if self.vocab_size < 300:
            raise ConfigError(f"{source}: 'tokenizer.vocab_size' must be at least 300 "
                              f"(256 byte symbols + special tokens), got {self.vocab_size}")

    def input_paths(self) -> list[str]:
        return []
