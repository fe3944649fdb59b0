"""Task kinds as a registry: what differs between NER, classification and multi-label classification,
one entry per kind (as lm-evaluation-harness registers its tasks). The rest of the code asks a task's
kind; it never compares the type string.

Functions are named ``"module:attribute"`` and imported when first used, so that reading a task
definition (``medforge tasks ls``, ``--help``) imports no torch.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class TaskKind:
    name: str
    formats: tuple[str, ...]  # file formats its readers take
    metrics: tuple[tuple[str, str], ...]  # (key, label) reported for it; the first is the default headline
    headlines: tuple[str, ...]  # the metrics a task may choose to pick its best epoch
    pipeline_task: str  # the transformers pipeline (and model-index task type) of a fine-tuned model
    reader: str  # (TaskSpec) -> task data
    finetune: str  # (model path, data, hp, seed, out, settings) -> (results, model, tokenizer)
    predictions: str  # (run folder) -> (gold, predictions) on test
    bootstrap: str  # (gold, predictions per seed of a, of b, labels, metric, kind, negative) -> paired bootstrap
    describe_split: Callable[[dict], str]  # a split's summary (``tasks validate``) in one line
    multilabel: bool = False
    unseen: str = ""  # what happens to a dev/test label absent from train
    scorer: str = ""  # labelled kinds: (gold, predictions, labels, spec) -> scores
    pair: bool = False  # two texts per example
    regression: bool = False  # one number per example instead of labels

    def call(self, role: str) -> Callable:
        """The function registered for ``role`` (reader, finetune, predictions, bootstrap)."""
        module, _, attribute = getattr(self, role).partition(":")
        return getattr(importlib.import_module(module), attribute)

    def metric_label(self, key: str) -> str:
        return dict(self.metrics)[key]


def _ner_split(s: dict) -> str:
    counts = ", ".join(f"{k} {v}" for k, v in s["entities"].items())
    return f"{s['sentences']} sentences, {s['tokens']} tokens; entities: {counts}"


def _labelled_split(s: dict) -> str:
    counts = ", ".join(f"{k} {v}" for k, v in s["labels"].items())
    return f"{s['examples']} examples ({s['without_label']} without a label); labels: {counts}"


def _scored_split(s: dict) -> str:
    low, high = s["score_range"]
    return f"{s['examples']} pairs, scores {low:g} to {high:g}"


_LABELS: dict[str, Any] = {"reader": "medforge.tasks.data:read_cls_task",
           "finetune": "medforge.evaluate.classify:finetune_classification",
           "predictions": "medforge.evaluate.compare:label_predictions",
           "formats": ("tsv", "csv", "jsonl", "json", "hub"),
           "pipeline_task": "text-classification", "describe_split": _labelled_split,
           "bootstrap": "medforge.evaluate.compare:bootstrap_labels",
           "scorer": "medforge.tasks.metrics:single_label_scores"}

KINDS: dict[str, TaskKind] = {
    "ner": TaskKind(
        "ner", formats=("conll", "brat", "hub"),
        metrics=(("f1", "F1"), ("precision", "P"), ("recall", "R"), ("lenient_f1", "F1 lenient*"),
                 ("token_weighted_f1_with_o", "token F1 with O*")),
        headlines=("f1",), pipeline_task="token-classification", reader="medforge.tasks.data:read_ner_task",
        finetune="medforge.evaluate.finetune:finetune_ner", predictions="medforge.evaluate.compare:ner_predictions",
        bootstrap="medforge.evaluate.compare:bootstrap_ner", describe_split=_ner_split,
        unseen="they count as missed"),
    "classification": TaskKind(
        "classification", metrics=(("macro_f1", "macro F1"), ("micro_f1", "micro F1"), ("accuracy", "accuracy")),
        headlines=("macro_f1", "micro_f1", "accuracy"), unseen="scored as errors", **_LABELS),
    "multilabel": TaskKind(
        "multilabel", metrics=(("micro_f1", "micro F1"), ("macro_f1", "macro F1"), ("accuracy", "exact match")),
        headlines=("micro_f1", "macro_f1"), multilabel=True, unseen="left out of the label matrix, so not scored",
        **{**_LABELS, "scorer": "medforge.tasks.metrics:multi_label_scores"}),
    # BLURB scores ChemProt and DDI by micro F1 over the relation labels, the negative class left out
    "relation": TaskKind(
        "relation", metrics=(("micro_f1", "micro F1"), ("macro_f1", "macro F1"), ("accuracy", "accuracy")),
        headlines=("micro_f1", "macro_f1", "accuracy"), unseen="scored as errors", **_LABELS),
    # PubMedQA: accuracy and macro F1 over yes / no / maybe
    "qa": TaskKind(
        "qa", metrics=(("accuracy", "accuracy"), ("macro_f1", "macro F1")), headlines=("accuracy", "macro_f1"),
        unseen="scored as errors", pair=True, **_LABELS),
    # BIOSSES: Pearson correlation of predicted and gold similarity scores
    "similarity": TaskKind(
        "similarity", metrics=(("pearson", "Pearson r"), ("spearman", "Spearman ρ")), headlines=("pearson", "spearman"),
        pair=True, regression=True,
        **{**_LABELS, "describe_split": _scored_split, "scorer": "medforge.tasks.metrics:score_scores"}),
}


def kind_of(name: str) -> TaskKind:
    if name not in KINDS:
        from medforge.errors import ConfigError

        raise ConfigError(f"task type {name!r} is not supported; supported: {', '.join(KINDS)}")
    return KINDS[name]
