"""brat standoff NER (a ``.txt`` and an ``.ann`` per document) read into IOB2 sentences.

Only text-bound annotations (``T`` lines) become entities; notes, attributes, relations and
events are counted and skipped. Every change the conversion makes is counted:

- discontinuous entities: ``span`` covers the first fragment's start to the last one's end,
  ``drop`` removes them;
- nested entities: ``outermost`` keeps those inside no other, ``innermost`` those containing no
  other, ``layered`` keeps one nesting level (``layer`` 0 is the outermost); after that, entities
  that still cross are resolved by keeping the longer (then the earlier) one;
- entity boundaries inside a token are widened to whole tokens.

Sentences and tokens: ``tasks.text``.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from medforge.errors import InputError
from medforge.tasks.conll import NerFile, Sentence
from medforge.tasks.text import sentences_of, tokens_of

NESTED = ("outermost", "innermost", "layered")
DISCONTINUOUS = ("span", "drop")
_SPAN = re.compile(r"^(\S+) (\d+ \d+(?:;\d+ \d+)*)$")


@dataclass
class Entity:
    type: str
    start: int
    end: int
    fragments: int


def read_ann(ann: Path, text: str, changes: Counter) -> list[Entity]:
    entities = []
    for lineno, line in enumerate(ann.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        if not line.startswith("T"):
            changes[f"skipped {line[:1]} lines (not entities)"] += 1
            continue
        parts = line.split("\t")
        match = _SPAN.match(parts[1]) if len(parts) >= 2 else None
        if match is None:
            raise InputError(f"{ann}:{lineno}: expected 'T<n><TAB>TYPE START END[;START END]<TAB>text', found "
                             f"{line[:80]!r}")
        fragments = [tuple(map(int, f.split())) for f in match.group(2).split(";")]
        for start, end in fragments:
            if not 0 <= start < end <= len(text):
                raise InputError(f"{ann}:{lineno}: offsets {start}-{end} fall outside the text "
                                 f"({len(text)} characters in {ann.with_suffix('.txt').name}); fix the annotation "
                                 "or pair the .ann with its own .txt")
        # brat writes a line break inside an entity as a space in the .ann's text column
        if len(fragments) == 1 and len(parts) >= 3 and \
                text[fragments[0][0]:fragments[0][1]].split() != parts[2].split():
            raise InputError(f"{ann}:{lineno}: the annotated text {parts[2]!r} differs from the document's "
                             f"{text[fragments[0][0]:fragments[0][1]]!r} at those offsets; the .txt was changed "
                             "after annotation (line endings?)")
        entities.append(Entity(match.group(1), fragments[0][0], fragments[-1][1], len(fragments)))
    return entities


def resolve(entities: list[Entity], nested: str, discontinuous: str, layer: int, changes: Counter) -> list[Entity]:
    if discontinuous == "drop":
        kept = [e for e in entities if e.fragments == 1]
        changes["discontinuous entities dropped"] += len(entities) - len(kept)
        entities = kept
    else:
        changes["discontinuous entities spanned"] += sum(e.fragments > 1 for e in entities)

    def contains(i: int, j: int) -> bool:
        a, b = entities[i], entities[j]
        if i == j:
            return False
        if (a.start, a.end) == (b.start, b.end):  # the same span twice: the first counts as the outer one
            return i < j
        return a.start <= b.start and b.end <= a.end

    n = range(len(entities))
    if nested == "outermost":
        kept = [entities[j] for j in n if not any(contains(i, j) for i in n)]
    elif nested == "innermost":
        kept = [entities[i] for i in n if not any(contains(i, j) for j in n)]
    else:
        kept = [entities[j] for j in n if sum(contains(i, j) for i in n) == layer]
    changes[f"nested entities removed ({nested})"] += len(entities) - len(kept)
    chosen: list[Entity] = []
    for e in sorted(kept, key=lambda e: (-(e.end - e.start), e.start)):
        if any(e.start < c.end and c.start < e.end for c in chosen):
            changes["crossing entities removed"] += 1
        else:
            chosen.append(e)
    return sorted(chosen, key=lambda e: e.start)


def to_sentences(text: str, entities: list[Entity], changes: Counter) -> list[Sentence]:
    """IOB2 sentences; a sentence end never falls inside an entity (only a line break can split one, and
    each entity it splits, and each mention it adds, is counted)."""
    sentences: list[Sentence] = []
    touched: Counter = Counter()
    for start, end in sentences_of(text, [(e.start, e.end) for e in entities]):
        tokens = tokens_of(text, start, end)
        if not tokens:
            continue
        tags = ["O"] * len(tokens)
        for k, e in enumerate(entities):
            inside = [i for i, (s, t, _) in enumerate(tokens) if s < e.end and e.start < t]
            if not inside:
                continue
            touched[k] += 1
            if touched[k] == 1 and (tokens[inside[0]][0] != e.start or tokens[inside[-1]][1] != e.end) and \
                    e.start >= start and e.end <= end:
                changes["entity boundaries widened to whole tokens"] += 1
            for m, i in enumerate(inside):
                tags[i] = ("B-" if m == 0 else "I-") + e.type
        sentences.append(Sentence([t for _, _, t in tokens], tags, 0))
    changes["entities split across lines"] += sum(1 for v in touched.values() if v > 1)
    changes["entity mentions added by those splits"] += sum(v - 1 for v in touched.values() if v > 1)
    changes["entities lost (no token)"] += len(entities) - len(touched)
    return sentences


def read_brat(folder: Path, nested: str = "outermost", discontinuous: str = "span", layer: int = 0) -> NerFile:
    if not folder.is_dir():
        raise InputError(f"{folder}: brat folder not found; a brat split is a folder of .txt and .ann files")
    documents = sorted(folder.glob("*.txt"))
    if not documents:
        raise InputError(f"{folder}: no .txt file; a brat split is a folder of .txt and .ann files")
    changes: Counter = Counter()
    sentences: list[Sentence] = []
    for txt in documents:
        ann = txt.with_suffix(".ann")
        if not ann.is_file():
            raise InputError(f"{ann}: missing; every brat .txt needs its .ann (an empty one if it has no entity)")
        text = txt.read_bytes().decode("utf-8")  # brat offsets count a CRLF as two characters: no translation
        entities = resolve(read_ann(ann, text, changes), nested, discontinuous, layer, changes)
        sentences += to_sentences(text, entities, changes)
    return NerFile(folder, sentences, 0, {k: v for k, v in sorted(changes.items()) if v})
