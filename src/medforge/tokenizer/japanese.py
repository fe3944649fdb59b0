"""Japanese word segmentation with MeCab (JMedRoBERTa); the full-width mapping is in ``medforge.textnorm``."""

from __future__ import annotations

from functools import lru_cache

from medforge.errors import MedforgeError

PRE_SEGMENT_KEY = "medforge_pre_segment"  # in tokenizer_config.json: how input text must be split first


@lru_cache(maxsize=1)
def _tagger():
    try:
        import fugashi
    except ImportError:
        raise MedforgeError("pre_segment 'mecab' needs fugashi and unidic-lite: "
                            "pip install fugashi unidic-lite (or medforge[ja])") from None
    try:
        return fugashi.Tagger()
    except RuntimeError as exc:
        raise MedforgeError(f"MeCab could not start ({exc}); install a dictionary: pip install unidic-lite") from None


def segment(text: str) -> str:
    """Words separated by single spaces, as MeCab splits them."""
    return " ".join(word.surface for word in _tagger()(text))


def preprocessor(tokenizer):
    """The text transformation a tokenizer expects before it is called: MeCab segmentation, or None."""
    if getattr(tokenizer, "init_kwargs", {}).get(PRE_SEGMENT_KEY) == "mecab":
        return segment
    return None
