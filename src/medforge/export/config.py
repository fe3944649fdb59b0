from __future__ import annotations

from dataclasses import dataclass

from medforge.config import opt
from medforge.errors import ConfigError


@dataclass
class ExportConfig:
    model_name: str = opt("medforge-model", "Name shown in the model card (and its hub id, if uploaded).")
    language: list[str] = opt(["en"], "ISO 639-1 codes of the training text, for the card's metadata; the first "
                                      "one picks the widget's sentence.")
    license: str = opt("apache-2.0", "Licence identifier for the card's metadata.")
    description: str = opt("", "A paragraph for the top of the model card.")
    datasets: list[str] = opt([], "Hub ids of the training corpora, for the card's metadata.")
    sample_texts: int = opt(0, "Corpus documents quoted in the card (validation split, first N). Off by default: "
                               "clinical data agreements usually forbid publishing any.")
    onnx: bool = opt(False, "Also write onnx/model.onnx (dynamic batch and length), checked with onnxruntime "
                            "against PyTorch (the onnx extra).")

    def validate(self, source: str) -> None:
        if self.sample_texts < 0:
            raise ConfigError(f"{source}: 'export.sample_texts' must be >= 0, got {self.sample_texts}")

    def input_paths(self) -> list[str]:
        return []
