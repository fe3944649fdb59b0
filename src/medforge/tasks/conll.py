"""CoNLL-style NER files: one ``token<TAB or SPACE>tag`` per line, blank line between sentences.

Tags follow the task's scheme (IOB1, IOB2, IOBES or BILOU; see ``schemes``) and are converted to
IOB2 on reading. Invalid transitions are repaired and counted, never dropped silently.
``-DOCSTART-`` lines end a sentence and are counted. Character-level files (one character per
line, as in Japanese corpora) are read the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from medforge import paths
from medforge.errors import InputError
from medforge.tasks.schemes import PREFIXES, tag_pattern, to_iob2


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


def read_conll(path: str | Path, token_column: int = 0, tag_column: int = -1, scheme: str = "iob2") -> NerFile:
    local = paths.resolve(path)
    pattern = tag_pattern(scheme)
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
            fixed, n = to_iob2(tags, scheme)
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
            if not pattern.match(tag):
                raise InputError(f"{local}:{lineno}: tag {tag!r} is not {scheme.upper()} (expected O or "
                                 f"{'/'.join(PREFIXES[scheme])}-TYPE); set the task's 'scheme' "
                                 "to the file's scheme (iob1, iob2, iobes, bilou)")
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
    gold: list[list[str]] = []
    pred: list[list[str]] = []
    g: list[str] = []
    p: list[str] = []
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
