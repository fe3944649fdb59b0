from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from tests_shared import SAMPLE  # noqa: E402  (after the environment: nothing may reach a hub)


@pytest.fixture(scope="session")
def sample_texts() -> list[str]:
    texts = []
    for name in ("en.txt", "fr.txt"):
        texts += (SAMPLE / "corpus" / name).read_text(encoding="utf-8").splitlines()
    return texts


@pytest.fixture(scope="session")
def tiny_tokenizer(tmp_path_factory, sample_texts):
    """A byte-level BPE trained on the embedded sample, saved and reloaded like a stage output."""
    from transformers import AutoTokenizer

    from medforge.tokenizer.config import TokenizerConfig
    from medforge.tokenizer.train import train_tokenizer

    folder = tmp_path_factory.mktemp("tokenizer")
    train_tokenizer(iter(sample_texts), TokenizerConfig(vocab_size=1000), folder, 0, sample_texts[:20])
    return AutoTokenizer.from_pretrained(folder)


@pytest.fixture(scope="session")
def tiny_tokenizer_dir(tiny_tokenizer, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("tokenizer-dir")
    tiny_tokenizer.save_pretrained(folder)
    return folder
