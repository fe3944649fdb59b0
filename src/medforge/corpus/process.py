"""One document's way through preparation, as a pure function that worker processes can run:
normalise, clean, filter, screen for personal data, hash. Decisions that need the whole corpus
(duplicates, splits, sampling) are the stage's."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from medforge.corpus import pii
from medforge.corpus.config import PrepareConfig
from medforge.corpus.dedup import MinHasher, exact_key
from medforge.corpus.filters import LanguageId, repeated_lines, repeated_ngram_fraction, word_count
from medforge.corpus.normalize import Normalizer

LANGUAGE_SAMPLE = 20  # without a language filter, one document in 20 is identified for the report's mix


@dataclass
class Processed:
    text: str = ""
    dropped: str | None = None  # the reason, if the document is dropped
    repairs: list[str] = field(default_factory=list)
    pii: list[tuple[str, str]] = field(default_factory=list)  # (type, masked example)
    key: bytes = b""  # of the normalised text, before redaction
    redacted_key: bytes = b""  # of the text as written, when redaction changed it
    signature: np.ndarray | None = None
    words: int = 0
    language: str | None = None


class Processor:
    """``known`` (optional) says whether an exact key was kept already: such a document is an exact
    duplicate, and skips language identification, screening and MinHash."""

    def __init__(self, cfg: PrepareConfig, known: Callable[[bytes], bool] | None = None):
        self.cfg = cfg
        self.known = known
        self.normalize = Normalizer(cfg.normalization, cfg.fullwidth, cfg.lowercase, cfg.fix_mojibake)
        self.hasher = MinHasher(cfg.num_perm, cfg.shingle) if cfg.dedup_near else None
        self.language_id: LanguageId | None = None
        self.pii_types = set(cfg.pii_types)

    def _languages(self, texts: list[str]) -> list[str]:
        if self.language_id is None:
            self.language_id = LanguageId()
        return self.language_id.batch(texts)

    def __call__(self, raw: str) -> Processed:
        return self.batch([raw])[0]

    def batch(self, raws: list[str]) -> list[Processed]:
        """Every document processed; the languages and the MinHash signatures of those that need one computed
        together."""
        cfg = self.cfg
        cleaned = [self._clean(raw) for raw in raws]
        going = [doc for doc, go in cleaned if go]
        asked = [doc for doc in going if cfg.languages or doc.key[0] % LANGUAGE_SAMPLE == 0]
        for doc, language in zip(asked, self._languages([doc.text for doc in asked]) if asked else []):
            doc.language = language
            if cfg.languages and language not in cfg.languages:
                doc.dropped = "language"
        todo, lowered = [], []
        for doc in going:
            low = None if doc.dropped else self._screen(doc)
            if low is not None:
                todo.append(doc)
                lowered.append(low)
        if self.hasher is not None:
            for doc, signature in zip(todo, self.hasher.signatures(lowered, lowered=True)):
                doc.signature = signature
        return [doc for doc, _ in cleaned]

    def _clean(self, raw: str) -> tuple[Processed, bool]:
        """The document normalised and filtered, and whether it goes on: neither dropped nor an exact duplicate
        of a document kept already."""
        cfg, out = self.cfg, Processed()
        text, fixed = self.normalize(raw)
        if fixed:
            out.repairs.append("mojibake_repaired")
        if cfg.remove_repeated_lines:
            text, removed = repeated_lines(text)
            if removed:
                out.repairs.append("repeated_lines_removed")
        out.text = text
        if not text:
            out.dropped = "empty"
            return out, False
        out.words = word_count(text)
        if len(text) < cfg.min_chars:
            out.dropped = "too_short_chars"
        elif cfg.max_chars and len(text) > cfg.max_chars:
            out.dropped = "too_long_chars"
        elif out.words < cfg.min_words:
            out.dropped = "too_short_words"
        elif cfg.max_words and out.words > cfg.max_words:
            out.dropped = "too_long_words"
        elif cfg.max_repeated_ngram_fraction and \
                repeated_ngram_fraction(text.split()) > cfg.max_repeated_ngram_fraction:
            out.dropped = "repetitive"
        if out.dropped:
            return out, False
        key = out.key = exact_key(text)
        return out, not (self.known is not None and cfg.dedup_exact and self.known(key))

    def _screen(self, out: Processed) -> str | None:
        """Personal data found, and dropped or redacted as configured: None if the document is dropped, else
        its text lowered (made once, for the screen and MinHash; empty if neither runs)."""
        cfg, text = self.cfg, out.text
        low = text.lower() if self.pii_types or self.hasher is not None else ""
        items = [i for i in pii.find(text, low) if i.type in self.pii_types] if self.pii_types else []
        if items:
            out.pii = [(i.type, example) for i, example in zip(items, pii.masked(text, items))]
            if cfg.pii_policy == "drop":
                out.dropped = "pii"
                return None
            if cfg.pii_policy == "redact":
                out.text = pii.redact(text, items)
                out.redacted_key = exact_key(out.text)
                low = out.text.lower()
        return low


_WORKER: Processor | None = None


def init_worker(cfg: PrepareConfig) -> None:
    global _WORKER
    _WORKER = Processor(cfg)


def process_batch(texts: list[str]) -> list[Processed]:
    assert _WORKER is not None, "init_worker runs first in every pool process"
    return _WORKER.batch(texts)
