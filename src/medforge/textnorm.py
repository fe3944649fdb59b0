"""Character mappings shared by corpus preparation and the tokenizers: one definition each, so that the
text a tokenizer sees at inference is normalised as the corpus it was trained on was.

Corpus preparation applies them to whole documents (``corpus.normalize``); the tokenizer stage writes
the same mappings into ``tokenizer.json`` as ``tokenizers`` normalizers, so that raw input such as
``"Fièvre\\u00a0: 39\\u00a0°C"`` meets the vocabulary in the form the corpus had.
"""

from __future__ import annotations

from tokenizers import Regex, normalizers

# ASCII '!'..'~' -> U+FF01..U+FF5E (JMedRoBERTa). Spaces stay ASCII: the pre-tokenizers split words on them.
_ASCII = [chr(c) for c in range(0x21, 0x7F)]
FULLWIDTH = {ord(c): ord(c) + 0xFEE0 for c in _ASCII}  # a str.translate table, for corpus preparation

# What corpus preparation folds into one ASCII space (str.split's whitespace but the line break): tabs,
# carriage returns, no-break, ideographic and typographic spaces, line and paragraph separators.
SPACES = "\t\x0b\x0c\r\x1c-\x1f\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"


def fullwidth_normalizer() -> normalizers.Normalizer:
    """NFKC (folds half-width katakana to full-width, and full-width ASCII to ASCII), then ASCII to full-width."""
    steps: list[normalizers.Normalizer] = [normalizers.NFKC()]
    steps += [normalizers.Replace(c, chr(ord(c) + 0xFEE0)) for c in _ASCII]
    return normalizers.Sequence(steps)


def space_normalizer(line_breaks: bool = False) -> normalizers.Normalizer:
    """Every space character (and, with ``line_breaks``, the line break too) to one ASCII space, runs of
    spaces to one: SentencePiece vocabularies hold no piece for U+00A0 or U+3000 (they became <unk>), and
    are trained line by line, so a line break inside a document is a word boundary like a space."""
    chars = SPACES + ("\n" if line_breaks else "")
    return normalizers.Sequence([normalizers.Replace(Regex(f"[{chars}]"), " "),
                                 normalizers.Replace(Regex(" {2,}"), " ")])
