"""CoNLL-style NER files: one ``token<TAB or SPACE>tag`` per line, blank line between sentences.

Tags must be IOB2 (``O``, ``B-TYPE``, ``I-TYPE``). An ``I-TYPE`` that does not continue an entity
of the same type is repaired to ``B-TYPE`` and counted, never dropped silently.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from medforge import paths
from medforge.errors import InputError

_TAG = re.compile(r"^(O|[BI]-\S+)$")


@dataclass
class Sentence:
    tokens: list[str]
    tags: list[str]
    line: int  # line of the first token, for messages


@dataclass
class NerFile:
    path: Path
    sentences: list[Sentence]
    repaired_tags: int = 0
    skipped_lines: dict[str, int] = field(default_factory=dict)

    @property
    def types(self) -> set[str]:
        return {t[2:] for s in self.sentences for t in s.tags if t != "O"}


def repair_iob2(tags: list[str]) -> tuple[list[str], int]:
    fixed, repaired, previous = [], 0, "O"
    for tag in tags:
        if tag.startswith("I-") and previous[2:] != tag[2:]:
            tag, repaired = "B-" + tag[2:], repaired + 1
        fixed.append(tag)
        previous = tag
    return fixed, repaired


def read_conll(path: str | Path, token_column: int = 0, tag_column: int = -1) -> NerFile:
    local = paths.resolve(path)
    if not local.is_file():
        raise InputError(f"{local}: NER file not found; check the task's train/dev/test paths")
    sentences: list[Sentence] = []
    tokens: list[str] = []
    tags: list[str] = []
    start = 0
    skipped = {"docstart": 0}
    repaired = 0

    def close() -> None:
        nonlocal tokens, tags, repaired
        if tokens:
            fixed, n = repair_iob2(tags)
            repaired += n
            sentences.append(Sentence(tokens, fixed, start))
        tokens, tags = [], []

    with local.open("rb") as fh:
        for lineno, raw in enumerate(fh, start=1):
            try:
                line = raw.decode("utf-8").rstrip("\r\n")
            except UnicodeDecodeError:
                raise InputError(f"{local}:{lineno}: not valid UTF-8; re-encode the file as UTF-8") from None
            if not line.strip():
                close()
                continue
            columns = line.split("\t") if "\t" in line else line.split()
            if columns[0].startswith("-DOCSTART-"):
                skipped["docstart"] += 1
                close()
                continue
            if len(columns) < 2:
                raise InputError(f"{local}:{lineno}: expected 'token<TAB>tag' (two columns), found {line!r}; "
                                 "fix the line or separate sentences with an empty line")
            try:
                token, tag = columns[token_column].strip(), columns[tag_column].strip()
            except IndexError:
                raise InputError(f"{local}:{lineno}: has {len(columns)} columns, but the task reads columns "
                                 f"{token_column} and {tag_column}") from None
            if not token:
                raise InputError(f"{local}:{lineno}: empty token in {line!r}")
            if not _TAG.match(tag):
                raise InputError(f"{local}:{lineno}: tag {tag!r} is not IOB2 (expected O, B-TYPE or I-TYPE)")
            if not tokens:
                start = lineno
            tokens.append(token)
            tags.append(tag)
    close()
    if not sentences:
        raise InputError(f"{local}: no sentence found; the file is empty or holds only -DOCSTART- lines")
    return NerFile(local, sentences, repaired, skipped)


def write_predictions(path: Path, sentences: list[Sentence], predictions: list[list[str]]) -> None:
    """``token<TAB>gold<TAB>predicted``, blank line between sentences."""
    with path.open("w", encoding="utf-8") as fh:
        for sentence, pred in zip(sentences, predictions, strict=True):
            for token, gold, guess in zip(sentence.tokens, sentence.tags, pred, strict=True):
                fh.write(f"{token}\t{gold}\t{guess}\n")
            fh.write("\n")


def read_predictions(path: Path) -> tuple[list[list[str]], list[list[str]]]:
    gold, pred, g, p = [], [], [], []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if not line:
            if g:
                gold.append(g)
                pred.append(p)
            g, p = [], []
            continue
        _, gt, pt = line.split("\t")
        g.append(gt)
        p.append(pt)
    if g:
        gold.append(g)
        pred.append(p)
    return gold, pred
