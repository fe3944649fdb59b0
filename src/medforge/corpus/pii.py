"""Personal data screening by patterns, in one regular-expression pass per document.

Types: e-mail addresses, phone numbers (French national and +international formats), French
social security numbers (NIR, accepted only when the two-digit key checks), IBANs (accepted only
when the ISO 7064 mod-97 check passes), dates of birth in context (né le, date de naissance, DOB,
born on), postal addresses (a number, a street word and a name, French or English), and person
names after a title (Dr, Pr, M., Mme, Mlle, Mr, Mrs, Ms, Docteur, Professeur, Monsieur, Madame).

Patterns miss what they have no pattern for; the report says so. Redaction replaces each item by a
typed placeholder such as ``<EMAIL>``.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

TYPES = ("EMAIL", "PHONE", "NIR", "IBAN", "BIRTH_DATE", "ADDRESS", "PERSON")

_MONTHS = ("janvier|février|fevrier|mars|avril|mai|juin|juillet|août|aout|septembre|octobre|novembre|décembre|"
           "decembre|january|february|march|april|may|june|july|august|september|october|november|december")
_NAME = r"[A-ZÀ-Ý][a-zà-ÿ]+(?:[-'][A-ZÀ-Ý]?[a-zà-ÿ]+)?"
# the character class first lets the regex engine skip quickly to candidate letters (5x faster than a
# leading lookbehind); the lookbehind then checks the title starts a word
_TITLES = (r"[DPM](?<![\w][DPM])(?:(?<=D)(?:r|octeur)|(?<=P)(?:rofesseur|rof|r)|(?<=M)(?:me|lle|rs|r|s|onsieur|adame)?)"
           r"(?:\.|(?!\w))")
_PATTERNS = {
    "EMAIL": r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}",
    "IBAN": r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?\b",
    "NIR": r"\b[12] ?\d{2} ?(?:0[1-9]|1[0-2]|[2-9]\d) ?(?:\d{2}|2[AB]) ?\d{3} ?\d{3} ?\d{2}\b",
    "PHONE": r"(?<![\w+])(?:(?:\+|00)33 ?\(?0?\)? ?[1-9]|0[1-9])(?:[ .-]?\d{2}){4}(?!\d)"
             r"|(?<![\w+])\+(?!33)\d{1,3}[ .-]?\(?\d{1,4}\)?(?:[ .-]?\d{2,4}){2,4}(?!\d)",
    "BIRTH_DATE": r"(?i:\b(?:née?|date de naissance|DDN|born(?: on)?|date of birth|DOB)\b\s*(?:le|:|on)?\s*)"
                  rf"(?P<BIRTH_DATE_V>\d{{1,2}}[/.-]\d{{1,2}}[/.-]\d{{2,4}}|\d{{1,2}}(?:er)? (?i:{_MONTHS}) \d{{4}})",
    "ADDRESS": r"\d(?<!\w\d)\d{0,3}(?: ?(?:bis|ter))?,? (?i:rue|avenue|boulevard|bd|place|chemin|allée|impasse|route|quai)"  # noqa: E501
               rf" (?:(?:de la|du|des|de|d'|l')\s?)?{_NAME}(?: {_NAME}){{0,3}}(?:,? \d{{5}} {_NAME})?"
               rf"|\d(?<!\w\d)\d{{0,4}} {_NAME}(?: {_NAME}){{0,2}} (?:Street|St\.|Avenue|Ave\.|Road|Rd\.|Boulevard|Lane|Drive)",  # noqa: E501
    "PERSON": rf"{_TITLES} ?(?P<PERSON_V>{_NAME}(?: {_NAME})?)",
}
_COMPILED = {name: re.compile(pattern) for name, pattern in _PATTERNS.items()}
# Full patterns are slow on megabytes of text; each runs only where a cheap trigger says it can match:
# numbers of 9+ digits (NIR, phone, IBAN) are found first and scanned in a small window.
# 9+ digits, single separators; A/B: Corsican NIR. ``digit``: what matches one digit, ``digits``: inside a class
_NUMBER = r"{digit}(?:[ .-]?[{digits}AB]){{8,}}"
_NUMBERS = re.compile(_NUMBER.format(digit=r"\d", digits=r"\d"))


@functools.cache
def _bmp_numbers() -> re.Pattern:
    """The number trigger for a text without characters past U+FFFF: ``\\d`` spelled as the class of the
    decimal digits below U+10000, which the regular-expression engine tests from a bitmap, 1.6x faster than
    its per-character category lookup (a class holding digits past U+FFFF has no bitmap: 7x slower). Built on
    first use (10-50 ms here; the fork server builds it for its workers)."""
    digits = "".join(chr(c) for c in range(0x10000) if chr(c).isdecimal())
    return re.compile(_NUMBER.format(digit=f"[{digits}]", digits=digits))


def _number_trigger(text: str) -> re.Pattern:
    # a text is in the basic plane when its UTF-16 has no surrogate pairs (0.8 ns a character to check)
    basic = text.isascii() or len(text.encode("utf-16-le", errors="surrogatepass")) == 2 * len(text)
    return _bmp_numbers() if basic else _NUMBERS


_NUMBER_SCAN = re.compile("|".join(f"(?P<{k}>{_PATTERNS[k]})" for k in ("IBAN", "NIR", "PHONE")))
_BIRTH_WORDS = ("né le", "née le", "né(e) le", "naissance", "ddn", "born", "birth", "dob")
# abbreviations (bd, st., rd.) end too many ordinary words to be triggers: their addresses are found when
# another trigger is near, and missed otherwise
_STREET_WORDS = ("rue ", "avenue", "boulevard", "place ", "chemin", "allée", "impasse", "route ", "quai ",
                 "street", "road", "lane", "drive")


def nir_key_ok(raw: str) -> bool:
    digits = raw.replace(" ", "")
    body, key = digits[:13], int(digits[13:])
    body = body.replace("2A", "19").replace("2B", "18")  # Corsica: the key is computed on these numbers
    return key == 97 - int(body) % 97


def iban_ok(raw: str) -> bool:
    compact = raw.replace(" ", "")
    moved = compact[4:] + compact[:4]
    number = "".join(str(int(c, 36)) for c in moved)
    return 15 <= len(compact) <= 34 and int(number) % 97 == 1


_CHECKS = {"NIR": nir_key_ok, "IBAN": iban_ok}
_VALUE_GROUPS = ("BIRTH_DATE", "PERSON")


@dataclass(frozen=True)
class Item:
    type: str
    start: int
    end: int
    text: str


def _item(kind: str, match: re.Match, offset: int = 0) -> Item | None:
    # context words (née le, Dr) stay in the text: only the value is the item
    start, end = match.span(kind + "_V") if kind in _VALUE_GROUPS else match.span()
    value = match.string[start:end]
    if kind in _CHECKS and not _CHECKS[kind](value):
        return None
    return Item(kind, start + offset, end + offset, value)


def _windows(low: str, words: tuple[str, ...], before: int, after: int) -> list[tuple[int, int]]:
    """Merged spans around every occurrence of the trigger words: the slow patterns run only there."""
    spans = []
    for word in words:
        at = low.find(word)
        while at >= 0:
            spans.append((max(at - before, 0), at + after))
            at = low.find(word, at + 1)
    merged: list[tuple[int, int]] = []
    for begin, end in sorted(spans):
        if merged and begin <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((begin, end))
    return merged


def find(text: str, low: str | None = None) -> list[Item]:
    """Every item found, checked where a check exists (a NIR or IBAN whose key fails is not one). ``low``:
    ``text.lower()``, if the caller has it."""
    found = []
    if "@" in text:
        found += [_item("EMAIL", m) for m in _COMPILED["EMAIL"].finditer(text)]
    for number in _number_trigger(text).finditer(text):
        begin = max(number.start() - 16, 0)  # room for an IBAN's letters or a phone's '+33 (0)'
        for m in _NUMBER_SCAN.finditer(text[begin:number.end() + 4]):
            found.append(_item(str(m.lastgroup), m, begin))  # the pattern has a group per kind
    low = text.lower() if low is None else low
    for kind, words, before, after in (("BIRTH_DATE", _BIRTH_WORDS, 12, 60), ("ADDRESS", _STREET_WORDS, 40, 90)):
        for begin, end in _windows(low, words, before, after):
            found += [_item(kind, m, begin) for m in _COMPILED[kind].finditer(text[begin:end])]
    found += [_item("PERSON", m) for m in _COMPILED["PERSON"].finditer(text)]
    items, end = [], -1
    for item in sorted({i for i in found if i is not None}, key=lambda i: (i.start, -i.end)):
        if item.start >= end:  # overlapping finds: the first (and longest) wins
            items.append(item)
            end = item.end
    return items


def redact(text: str, items: list[Item]) -> str:
    out, last = [], 0
    for item in items:
        out += [text[last:item.start], f"<{item.type}>"]
        last = item.end
    return "".join(out + [text[last:]])


def masked(text: str, items: list[Item], context: int = 30) -> list[str]:
    """One example per item for the report, with every item (its own and its neighbours') replaced by its
    type, so that the report repeats no personal data."""
    redacted, placed, last = [], [], 0
    length = 0
    for item in items:
        redacted.append(text[last:item.start])
        length += item.start - last
        placeholder = f"<{item.type}>"
        placed.append((length, length + len(placeholder)))
        redacted.append(placeholder)
        length += len(placeholder)
        last = item.end
    redacted.append(text[last:])
    flat = "".join(redacted).replace("\n", " ")
    return [f"…{flat[max(0, a - context):b + context]}…" for a, b in placed]
