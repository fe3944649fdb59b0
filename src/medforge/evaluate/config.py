from __future__ import annotations

from dataclasses import dataclass

from medforge.config import opt
from medforge.errors import ConfigError


@dataclass
class NerTaskConfig:
    name: str = opt("sample-ner", "Task name used in reports.")
    train: str = opt("asset:sample/ner/train.conll", "Training file: one 'token<TAB or SPACE>tag' per line, "
                                                     "IOB2 tags, blank line between sentences.")
    dev: str = opt("asset:sample/ner/dev.conll", "Validation file (chooses the best epoch).")
    test: str = opt("asset:sample/ner/test.conll", "Test file (reported once, with the best epoch's model).")


@dataclass
class EvaluateConfig:
    model: str | None = opt(None, "Model folder or hub id to fine-tune. Default: the pretrain stage's model.")
    task: NerTaskConfig = opt(NerTaskConfig(), "The NER task.")
    max_length: int = opt(128, "Longest input in subword tokens; longer sentences are split into windows "
                               "of whole words, never truncated.")
    epochs: int = opt(4, "Fine-tuning epochs; the best on validation F1 is kept.")
    batch_size: int = opt(16, "Sentences per step.")
    learning_rate: float = opt(1e-4, "Peak learning rate.")
    warmup_ratio: float = opt(0.1, "Share of steps with linear warmup, then linear decay.")
    weight_decay: float = opt(0.01, "AdamW weight decay.")

    def validate(self, source: str) -> None:
        for key in ("max_length", "epochs", "batch_size"):
            if getattr(self, key) < 1:
                raise ConfigError(f"{source}: 'evaluate.{key}' must be at least 1, got {getattr(self, key)}")
        if self.max_length < 8:
            raise ConfigError(f"{source}: 'evaluate.max_length' must be at least 8, got {self.max_length}")

    def input_paths(self) -> list[str]:
        files = [self.task.train, self.task.dev, self.task.test]
        return files + ([self.model] if self.model else [])
