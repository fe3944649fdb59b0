"""Downstream tasks as data: one YAML file per task, read into ``TaskSpec``.

A task names its files (relative to ``data_root``), their format and tag scheme, and the
longest input. Built-in definitions for the public data sets that ``../shared/data`` holds live
in ``tasks/builtin/``; users point them at their own copy with ``data_root`` (or the
``MEDFORGE_DATA_ROOT`` environment variable).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path

from medforge import config as cfglib
from medforge import paths
from medforge.config import opt
from medforge.errors import ConfigError
from medforge.tasks.kinds import KINDS
from medforge.tasks.schemes import SCHEMES

TYPES = tuple(KINDS)
SPLITS = ("train", "dev", "test")
DATA_ROOT_ENV = "MEDFORGE_DATA_ROOT"
DEFAULT_DATA_ROOT = "../shared/data"


@dataclass
class TaskSpec:
    name: str = opt("sample-ner", "Task name, used in reports, tables and folder names.")
    type: str = opt("ner", "Task type: ner (token classification, CoNLL-like files), classification (one label "
                           "per text), multilabel (any number of labels per text), similarity (a score per pair of "
                           "sentences, BIOSSES-style), relation (one relation label per text with two marked "
                           "entities, ChemProt-style) or qa (a question and its context, one answer label such as "
                           "yes/no/maybe, PubMedQA-style).")
    language: str = opt("", "Language code(s) of the data, e.g. 'en' or 'fr'; reported with the results.")
    data_root: str = opt("", "Folder that relative train/dev/test paths are read from (default: the task "
                             "file's folder; the working directory for a task written inline).")
    train: str = opt("asset:sample/ner/train.conll", "Training file.")
    dev: str = opt("asset:sample/ner/dev.conll", "Validation file (chooses the best epoch). Empty: carve "
                                                 "'dev_fraction' of train.")
    test: str = opt("asset:sample/ner/test.conll", "Test file, scored once with the model chosen on validation.")
    dev_fraction: float = opt(0.1, "Share of train sentences held out as validation when 'dev' is empty "
                                   "(chosen by a hash of the sentence, the same for every model and seed).")
    format: str = opt("conll", "File format. ner: conll (a token and a tag column, blank line between sentences, "
                               "tab- or space-separated, -DOCSTART- lines skipped) or brat (each split a folder "
                               "of .txt and .ann files). The other kinds: tsv or csv (with a header row), jsonl, or "
                               "json (one array of records, or records keyed by id; list-valued text fields are "
                               "joined).")
    hub_dataset: str = opt("", "format hub: a Hugging Face data set id (needs a network) or a local folder "
                                "datasets can load; train/dev/test then name its splits.")
    hub_config: str = opt("", "format hub: the data set's configuration name, if it has several.")
    tokens_field: str = opt("tokens", "format hub, NER: the field holding each sentence's tokens.")
    tags_field: str = opt("ner_tags", "format hub, NER: the field holding the tags (names, or class ids with "
                                      "names in the features).")
    nested: str = opt("outermost", "brat: nested entities kept: outermost, innermost or layered (one level, "
                                   "see 'layer').")
    layer: int = opt(0, "brat, nested: layered: the nesting level kept (0 is the outermost).")
    discontinuous: str = opt("span", "brat: discontinuous entities: span (first start to last end) or drop.")
    text_column: str = opt("text", "Classification: the column (or JSON field) holding the text.")
    label_column: str = opt("label", "Classification: the column (or JSON field) holding the label(s).")
    label_separator: str = opt("|", "Multi-label: separator between the labels of one cell.")
    text_pair_column: str = opt("", "Pair tasks (similarity, qa): the column holding the second text (sentence 2, "
                                    "or the question's context); 'text_column' holds the first.")
    negative_label: str = opt("", "relation: the 'no relation' label, left out of micro and macro F1 (as BLURB "
                                  "scores ChemProt and DDI); empty: every label counts.")
    entity_offsets: list[str] = opt([], "relation: four columns giving the character start and end of entity 1 "
                                        "and of entity 2; markers are then inserted around them. Empty: the text "
                                        "already holds its markers.")
    entity_markers: list[str] = opt(["<<", ">>", "[[", "]]"], "relation: the markers inserted before and after "
                                                              "entity 1, then entity 2.")
    metric: str = opt("", "Headline metric, which also chooses the best epoch: ner f1 (strict); classification "
                          "macro_f1 | micro_f1 | accuracy; multilabel micro_f1 | macro_f1. Empty: the first.")
    token_column: int = opt(0, "Column of the token (0-based; negative counts from the end).")
    tag_column: int = opt(-1, "Column of the tag (0-based; negative counts from the end).")
    scheme: str = opt("iob2", "Tag scheme of the files: iob1, iob2, iobes (BIOES) or bilou; read into IOB2, "
                              "invalid transitions repaired and counted.")
    max_length: int = opt(128, "Longest input in subword tokens; a longer sentence is split into windows of "
                               "whole words, never truncated.")
    window_context: int = opt(16, "NER: subword tokens of neighbouring words each window of a long sentence "
                                  "also sees on each side (predicted in their own window only).")

    def validate(self, source: str) -> None:
        if self.type not in KINDS:
            raise ConfigError(f"{source}: task type {self.type!r} is not supported; supported: {', '.join(TYPES)}")
        kind = KINDS[self.type]
        if self.scheme not in SCHEMES:
            raise ConfigError(f"{source}: 'scheme' {self.scheme!r} is not one of {', '.join(SCHEMES)}")
        if self.format not in kind.formats:
            raise ConfigError(f"{source}: 'format' {self.format!r} does not suit a {self.type} task; use "
                              f"{' or '.join(kind.formats)}")
        from medforge.tasks.brat import DISCONTINUOUS, NESTED

        if self.nested not in NESTED or self.discontinuous not in DISCONTINUOUS or self.layer < 0:
            raise ConfigError(f"{source}: 'nested' must be one of {', '.join(NESTED)}, 'discontinuous' one of "
                              f"{', '.join(DISCONTINUOUS)} and 'layer' 0 or more")
        if self.metric and self.metric not in kind.headlines:
            raise ConfigError(f"{source}: 'metric' {self.metric!r} is not one of {', '.join(kind.headlines)} "
                              f"for a {self.type} task")
        if (self.format == "hub") != bool(self.hub_dataset):
            raise ConfigError(f"{source}: 'hub_dataset' and format: hub go together (the splits are then named by "
                              "train/dev/test)")
        if not self.train or not self.test:
            raise ConfigError(f"{source}: task {self.name!r} needs 'train' and 'test' files")
        if not self.dev and not 0 < self.dev_fraction < 1:
            raise ConfigError(f"{source}: task {self.name!r} has no 'dev' file: set 'dev_fraction' in (0, 1) to "
                              "carve one from train")
        if self.window_context < 0:
            raise ConfigError(f"{source}: 'window_context' must be 0 or more, got {self.window_context}")
        if kind.pair and not self.text_pair_column and self.format != "hub":
            raise ConfigError(f"{source}: a {self.type} task reads two texts: set 'text_pair_column'")
        if self.entity_offsets and (len(self.entity_offsets) != 4 or len(self.entity_markers) != 4):
            raise ConfigError(f"{source}: 'entity_offsets' names four columns (start and end of entity 1, then "
                              "entity 2) and 'entity_markers' four markers")
        if self.max_length < 8:
            raise ConfigError(f"{source}: 'max_length' must be at least 8, got {self.max_length}")

    @property
    def headline(self) -> str:
        return self.metric or KINDS[self.type].headlines[0]

    def hub_source(self) -> str:
        """A local folder resolved like the other paths; anything else is taken as a hub id."""
        local = Path(self.data_root or ".").expanduser() / self.hub_dataset
        return str(local) if local.exists() else self.hub_dataset

    def path(self, split: str) -> Path | None:
        ref = getattr(self, split)
        if not ref:
            return None
        if ref.startswith(paths.ASSET_PREFIX) or Path(ref).expanduser().is_absolute() or not self.data_root:
            return paths.resolve(ref)
        return Path(self.data_root).expanduser() / ref

    def input_paths(self) -> list[str]:
        if self.format == "hub":
            return [str(self.hub_source())]
        return [str(p) for p in (self.path(s) for s in SPLITS) if p is not None]


def builtin_dir() -> Path:
    return Path(str(resources.files("medforge") / "tasks" / "builtin"))


def builtin_names() -> list[str]:
    return sorted(p.stem for p in builtin_dir().glob("*.yaml"))


def load_task(ref: str, data_root: str | None = None) -> TaskSpec:
    """A built-in task by name, or a task YAML file. ``data_root`` overrides the file's own."""
    path = Path(ref).expanduser()
    builtin = not path.is_file() and ref in builtin_names()
    if builtin:
        path = builtin_dir() / f"{ref}.yaml"
    elif not path.is_file():
        raise ConfigError(f"task {ref!r}: no such file and no built-in task of that name; built-in tasks: "
                          f"{', '.join(builtin_names())} (medforge tasks ls)")
    data = cfglib.load_yaml(path)
    spec = cfglib.from_dict(TaskSpec, data, source=str(path))
    if data_root:
        root = data_root
    elif builtin:
        root = os.environ.get(DATA_ROOT_ENV, DEFAULT_DATA_ROOT)
    else:
        root = str(path.parent / spec.data_root) if spec.data_root else str(path.parent)
    return replace(spec, data_root=root)
