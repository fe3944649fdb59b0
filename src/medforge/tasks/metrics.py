"""NER scores: entity-level micro precision/recall/F1, seqeval strict mode with the IOB2 scheme.

Strict mode counts an entity as found only if its type and both boundaries match; seqeval's
default (lenient) mode also credits some ill-formed predictions, which inflates scores.
"""

from __future__ import annotations

from seqeval.metrics import classification_report, f1_score, precision_score, recall_score
from seqeval.scheme import IOB2


def ner_scores(gold: list[list[str]], pred: list[list[str]]) -> dict:
    strict = {"mode": "strict", "scheme": IOB2}
    report = classification_report(gold, pred, output_dict=True, zero_division=0, **strict)
    per_type = {name: {"precision": v["precision"], "recall": v["recall"], "f1": v["f1-score"],
                       "support": int(v["support"])}
                for name, v in report.items() if not name.endswith(" avg")}
    return {
        "precision": precision_score(gold, pred, zero_division=0, **strict),
        "recall": recall_score(gold, pred, zero_division=0, **strict),
        "f1": f1_score(gold, pred, zero_division=0, **strict),
        "per_type": per_type,
        "protocol": "seqeval strict, IOB2, entity-level micro average",
    }
