"""Text normalisation applied to every document before anything else sees it."""

from __future__ import annotations

import re
import unicodedata

_SPACES = re.compile(r"[ \t\u00a0\u2000-\u200b\u202f\u3000]+")


def normalize(text: str, form: str = "NFC") -> str:
    """Unicode-normalise, fold runs of spaces (including no-break and ideographic) to one, strip the ends."""
    if form != "none":
        text = unicodedata.normalize(form, text)
    return _SPACES.sub(" ", text).strip()
