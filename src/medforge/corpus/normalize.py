"""Text normalisation applied to every document before anything else sees it."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from medforge.textnorm import FULLWIDTH, SPACES  # the tokenizer's own mappings: the two must agree

# characters that separate words (form feed, vertical tab, a lone CR, NEL, line and paragraph separators, odd
# spaces): a space, so that "page\fDébut" does not become "pageDébut"
_SPACE_LIKE = re.compile(f"[{SPACES}]")
# the C0/C1 controls left after that, and the BOM / zero-width no-break space
_CONTROLS = re.compile(r"[\x00-\x08\x0e-\x1b\x7f-\x84\x86-\x9f\ufeff]")
# what UTF-8 read as Latin-1/cp1252 looks like, [ÃÂâ][\u0080-\u00bf\u2018-\u203a\u20ac]: only documents showing it
# go through ftfy (slow)
_MOJIBAKE_LEADS = "ÃÂâ"
_MOJIBAKE_FOLLOWERS = frozenset(map(chr, [*range(0x80, 0xC0), *range(0x2018, 0x203B), 0x20AC]))


def shows_mojibake(text: str) -> bool:
    """Whether a lead character is followed by a follower: three finds at memory speed, 0.25 ns a character
    (the regular expression took 10-15: its search tests every position)."""
    for lead in _MOJIBAKE_LEADS:
        at = text.find(lead)
        while at >= 0:
            if text[at + 1:at + 2] in _MOJIBAKE_FOLLOWERS:
                return True
            at = text.find(lead, at + 1)
    return False


def folded(text: str, printable: bool) -> bool:
    """Whether ``" ".join(text.split()) == text`` already, given ``text.isprintable()``: a printable text holds no
    line break, tab, odd space or zero-width space (U+0020 is the only space character str.split acts on that
    is printable), so only a run of spaces or a space at either end would change."""
    return printable and "  " not in text and text[:1] != " " and text[-1:] != " "


def fold_spaces(text: str, printable: bool | None = None) -> str:
    """Runs of spaces (no-break and ideographic included) to one, blank lines dropped, ends stripped.
    str.split is an order of magnitude faster than a regular expression here. ``printable``: the caller's
    ``text.isprintable()``, if it has it."""
    if folded(text, text.isprintable() if printable is None else printable):
        return text
    if "\u200b" in text:
        text = text.replace("\u200b", "")
    if "\n" not in text:
        return " ".join(text.split())
    return "\n".join(line for line in (" ".join(part.split()) for part in text.split("\n")) if line)


@dataclass(frozen=True)
class Normalizer:
    form: str = "NFC"  # NFC | NFKC | none
    fullwidth: bool = False
    lowercase: bool = False
    fix_mojibake: bool = False

    def __call__(self, text: str) -> tuple[str, bool]:
        """The normalised text, and whether mojibake was repaired."""
        repaired = False
        if self.fix_mojibake and not text.isascii() and shows_mojibake(text):  # isascii: a flag of the string
            import ftfy

            fixed = ftfy.fix_encoding(text)
            repaired, text = fixed != text, fixed
        if self.form != "none":
            text = unicodedata.normalize(self.form, text)  # type: ignore[arg-type]  # checked by the config
        printable = text.isprintable()  # then it holds no control character and no space but U+0020
        if not printable:
            text = _CONTROLS.sub("", _SPACE_LIKE.sub(" ", text))
        if self.lowercase:
            text = text.lower()  # a printable text stays printable
        text = fold_spaces(text, printable)
        if self.fullwidth:
            text = text.translate(FULLWIDTH)
        return text, repaired


def normalize(text: str, form: str = "NFC") -> str:
    """Unicode-normalise, drop control characters, fold runs of spaces (no-break and ideographic
    included) to one, strip the ends."""
    return Normalizer(form)(text)[0]
