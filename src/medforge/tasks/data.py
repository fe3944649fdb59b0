"""A task's splits read into memory, with every change the reading made counted."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from medforge.corpus.split import split_score
from medforge.errors import InputError
from medforge.tasks.conll import NerFile, read_conll
from medforge.tasks.spec import SPLITS, TaskSpec


@dataclass
class NerData:
    spec: TaskSpec
    splits: dict[str, NerFile]
    notes: list[str] = field(default_factory=list)

    @property
    def labels(self) -> list[str]:
        """O, then B-/I- for every entity type seen in train (the label set is frozen from train)."""
        return ["O"] + [f"{p}-{t}" for t in sorted(self.splits["train"].types) for p in ("B", "I")]

    def unseen_types(self) -> dict[str, list[str]]:
        train = self.splits["train"].types
        return {s: sorted(self.splits[s].types - train) for s in ("dev", "test")}

    def summary(self) -> dict:
        out = {}
        for split, f in self.splits.items():
            entities = Counter(t[2:] for s in f.sentences for t in s.tags if t.startswith("B-"))
            out[split] = {"file": str(f.path), "sentences": len(f.sentences),
                          "tokens": sum(len(s.tokens) for s in f.sentences), "entities": dict(sorted(entities.items())),
                          "repaired_tags": f.repaired_tags, "docstart_lines": f.skipped_lines.get("docstart", 0)}
        return out


def read_ner_task(spec: TaskSpec) -> NerData:
    splits, notes = {}, []
    for split in SPLITS:
        path = spec.path(split)
        if path is not None:
            splits[split] = read_conll(path, spec.token_column, spec.tag_column, spec.scheme)
    if "dev" not in splits:
        train = splits["train"]
        # by a hash of the sentence's text: the same sentences for every model and seed, duplicates together
        held = [split_score(" ".join(s.tokens), 0) < spec.dev_fraction for s in train.sentences]
        dev = [s for s, h in zip(train.sentences, held) if h]
        kept = [s for s, h in zip(train.sentences, held) if not h]
        if not dev or not kept:
            raise InputError(f"{train.path}: holding out {spec.dev_fraction:.0%} of {len(train.sentences)} sentences "
                             "leaves an empty split; change the task's 'dev_fraction' or give a 'dev' file")
        splits["dev"] = NerFile(train.path, dev)
        splits["train"] = NerFile(train.path, kept, train.repaired_tags, train.skipped_lines)
        notes.append(f"no dev file: {len(dev)} of {len(train.sentences)} train sentences held out as validation")
    for split, f in splits.items():
        if f.repaired_tags:
            notes.append(f"{f.path}: {f.repaired_tags} invalid {spec.scheme.upper()} transitions repaired")
    return NerData(spec, {s: splits[s] for s in SPLITS}, notes)
