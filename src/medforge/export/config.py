from __future__ import annotations

from dataclasses import dataclass

from medforge.config import opt


@dataclass
class ExportConfig:
    model_name: str = opt("medforge-model", "Name shown in the model card.")
    language: list[str] = opt(["en"], "ISO 639-1 codes of the training text, for the card's metadata.")
    license: str = opt("apache-2.0", "Licence identifier for the card's metadata.")
    description: str = opt("", "A paragraph for the top of the model card.")

    def input_paths(self) -> list[str]:
        return []
