"""Document filters. Each returns the reason a document is dropped, or None to keep it."""

from __future__ import annotations

_NGRAM = 3


def repeated_lines(text: str) -> tuple[str, int]:
    """The text without lines that repeat an earlier line of the same document (headers, footers and
    table rows flattened into text); the number removed."""
    if "\n" not in text:
        return text, 0
    seen, kept = set(), []
    for line in text.split("\n"):
        key = line.strip().lower()
        if key and key in seen:
            continue
        seen.add(key)
        kept.append(line)
    return "\n".join(kept), text.count("\n") + 1 - len(kept)


def repeated_ngram_fraction(words: list[str]) -> float:
    """Share of the word trigrams that repeat an earlier one: boilerplate and spam score high."""
    if len(words) < 2 * _NGRAM:
        return 0.0
    total = len(words) - _NGRAM + 1
    return (total - len(set(zip(*(words[i:] for i in range(_NGRAM)))))) / total  # a set: 1.6x a Counter


def word_count(text: str) -> int:
    """Words, where spaces mark them; otherwise (Japanese, Chinese) characters count, two per word."""
    spaced = text.count(" ") + text.count("\n") + 1
    return spaced if spaced * 12 > len(text) else max(1, len(text) // 2)


class LanguageId:
    """py3langid (its model ships in the package, so it runs offline) on the first 2,000 characters; its model
    decompressed once per machine (``medforge.corpus.langid``)."""

    def __init__(self):
        from medforge.corpus.langid import identifier

        self._classify = identifier().classify_batch

    def __call__(self, text: str) -> str:
        return self.batch([text])[0]

    def batch(self, texts: list[str]) -> list[str]:
        return [language for language, _ in self._classify([text[:2000] for text in texts])]
