from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from medforge.config import opt
from medforge.errors import ConfigError


@dataclass
class PrepareConfig:
    inputs: list[str] = opt([], "Corpus files: .txt (one document per line) or .jsonl (one object per line). "
                                "Prefix 'asset:' reads a file of the embedded sample.")
    text_field: str = opt("text", "The JSONL field that holds a document's text.")
    normalization: Literal["NFC", "NFKC", "none"] = opt(
        "NFC", "Unicode normalisation. NFC keeps characters as written; NFKC also folds compatibility forms "
               "(ligatures, full-width Latin), which changes what the tokenizer sees.")
    validation_fraction: float = opt(0.1, "Share of documents held out for validation (split by document, "
                                          "seeded, so no document is in both).")

    def validate(self, source: str) -> None:
        if not self.inputs:
            raise ConfigError(f"{source}: 'prepare.inputs' is empty; list at least one corpus file")
        if not 0.0 <= self.validation_fraction < 1.0:
            raise ConfigError(f"{source}: 'prepare.validation_fraction' must be in [0, 1), "
                              f"got {self.validation_fraction}")

    def input_paths(self) -> list[str]:
        return list(self.inputs)
