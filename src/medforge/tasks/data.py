"""A task's splits read into memory, with every change the reading made counted."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from medforge.corpus.split import split_score
from medforge.errors import InputError
from medforge.tasks.brat import read_brat
from medforge.tasks.classification import ClsFile, Extra, read_examples
from medforge.tasks.conll import NerFile, read_conll
from medforge.tasks.hub import read_hub_examples, read_hub_ner
from medforge.tasks.kinds import kind_of
from medforge.tasks.spec import SPLITS, TaskSpec


@dataclass
class TaskData:
    spec: TaskSpec
    splits: dict
    notes: list[str] = field(default_factory=list)

    def label_counts(self, split: str) -> Counter:
        raise NotImplementedError

    def unseen(self) -> dict[str, dict[str, int]]:
        """Entity types or labels of dev/test absent from train, with their counts: the model cannot
        predict them (the label set is frozen from train)."""
        train = self.label_counts("train")
        return {s: dict(sorted((k, v) for k, v in self.label_counts(s).items() if k not in train))
                for s in ("dev", "test")}

    def note_unseen(self, consequence: str) -> None:
        for split, unseen in self.unseen().items():
            if unseen:
                self.notes.append(f"{split}: absent from train ({', '.join(f'{k} x{v}' for k, v in unseen.items())}), "
                                  f"so never predicted: {consequence}")


@dataclass
class NerData(TaskData):
    splits: dict[str, NerFile]

    @property
    def labels(self) -> list[str]:
        """O, then B-/I- for every entity type seen in train (the label set is frozen from train)."""
        return ["O"] + [f"{p}-{t}" for t in sorted(self.splits["train"].types) for p in ("B", "I")]

    def label_counts(self, split: str) -> Counter:
        """Entities per type."""
        return Counter(t[2:] for s in self.splits[split].sentences for t in s.tags if t.startswith("B-"))

    def summary(self) -> dict:
        out = {}
        for split, f in self.splits.items():
            entities = self.label_counts(split)
            out[split] = {"file": str(f.path), "sentences": len(f.sentences),
                          "tokens": sum(len(s.tokens) for s in f.sentences), "entities": dict(sorted(entities.items())),
                          "repaired_tags": f.repaired_tags, "docstart_lines": f.skipped_lines.get("docstart", 0)}
        return out


def hold_out(items: list, text_of, fraction: float, path) -> tuple[list, list]:
    """(kept, held out) by a hash of each item's text: the same items for every model and seed, and
    duplicates on the same side."""
    held = [split_score(text_of(item), 0) < fraction for item in items]
    dev = [item for item, h in zip(items, held) if h]
    kept = [item for item, h in zip(items, held) if not h]
    if not dev or not kept:
        raise InputError(f"{path}: holding out {fraction:.0%} of {len(items)} items leaves an empty split; change "
                         "the task's 'dev_fraction' or give a 'dev' file")
    return kept, dev


def read_ner_task(spec: TaskSpec) -> NerData:
    splits, notes = {}, []
    for split in SPLITS:
        path = spec.path(split)
        if path is not None:
            splits[split] = read_brat(path, spec.nested, spec.discontinuous, spec.layer) if spec.format == "brat" \
                else read_hub_ner(spec, split) if spec.format == "hub" \
                else read_conll(path, spec.token_column, spec.tag_column, spec.scheme)
    if "dev" not in splits:
        train = splits["train"]
        kept, dev = hold_out(train.sentences, lambda s: " ".join(s.tokens), spec.dev_fraction, train.path)
        splits["dev"] = NerFile(train.path, dev)
        splits["train"] = NerFile(train.path, kept, train.repaired_tags, train.skipped_lines)
        notes.append(f"no dev file: {len(dev)} of {len(train.sentences)} train sentences held out as validation")
    for f in splits.values():
        if f.repaired_tags:
            notes.append(f"{f.path}: {f.repaired_tags} invalid {spec.scheme.upper()} transitions repaired")
        if spec.format == "brat":  # every conversion change, counted (a carved dev split has none of its own)
            notes += [f"{f.path}: {what}: {n}" for what, n in f.skipped_lines.items()]
    data = NerData(spec, {s: splits[s] for s in SPLITS}, notes)
    data.note_unseen(kind_of(spec.type).unseen)
    return data


@dataclass
class ClsData(TaskData):
    splits: dict[str, ClsFile]

    @property
    def labels(self) -> list[str]:
        """The label set, frozen from train."""
        return sorted(self.splits["train"].label_set)

    def label_counts(self, split: str) -> Counter:
        return Counter(label for e in self.splits[split].examples for label in e.labels)

    def summary(self) -> dict:
        out = {}
        for split, f in self.splits.items():
            out[split] = {"file": str(f.path), "examples": len(f.examples),
                          "labels": dict(sorted(self.label_counts(split).items())),
                          "without_label": sum(not e.labels for e in f.examples), "dropped": f.dropped}
            values = [e.value for e in f.examples if e.value is not None]
            if values:  # a similarity task's gold scores
                out[split] = {**out[split], "score_range": [min(values), max(values)], "without_label": 0}
        return out


def read_task(spec: TaskSpec) -> NerData | ClsData:
    return kind_of(spec.type).call("reader")(spec)


def extra_of(spec: TaskSpec) -> Extra:
    kind = kind_of(spec.type)
    return Extra(pair_column=spec.text_pair_column if kind.pair else "", numeric=kind.regression,
                 offsets=tuple(spec.entity_offsets), markers=tuple(spec.entity_markers))


def read_cls_task(spec: TaskSpec) -> ClsData:
    splits, notes = {}, []
    for split in SPLITS:
        path = spec.path(split)
        if path is not None:
            splits[split] = read_hub_examples(spec, split) if spec.format == "hub" else \
                read_examples(path, spec.format, spec.text_column, spec.label_column, kind_of(spec.type).multilabel,
                              spec.label_separator, extra_of(spec))
    if "dev" not in splits:
        train = splits["train"]
        kept, dev = hold_out(train.examples, lambda e: e.text, spec.dev_fraction, train.path)
        splits["dev"] = ClsFile(train.path, dev)
        splits["train"] = ClsFile(train.path, kept, train.dropped)
        notes.append(f"no dev file: {len(dev)} of {len(train.examples)} train examples held out as validation")
    for f in splits.values():
        for reason, n in f.dropped.items():
            if n:
                notes.append(f"{f.path}: {n} rows dropped: {reason.replace('_', ' ')}")
    data = ClsData(spec, {s: splits[s] for s in SPLITS}, notes)
    data.note_unseen(kind_of(spec.type).unseen)
    return data
