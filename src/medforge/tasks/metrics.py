"""NER scores. The headline is entity-level micro precision/recall/F1, seqeval strict mode with the
IOB2 scheme: an entity counts as found only if its type and both boundaries match.

Two other conventions are reported beside it, labelled, so that results can be compared with
papers that used them (they are never used to choose a checkpoint):

- ``lenient``: seqeval's default (conlleval) mode, which reads an entity opened by ``I-`` or a
  type change inside a span as an entity: it credits some ill-formed predictions and counts
  others as extra entities, so it can read higher or lower;
- ``token_weighted_f1_with_o``: token-level F1 per tag, ``O`` included, averaged with support
  weights (DrBERT's benchmark); ``O`` dominates, so it reads much higher still.
"""

from __future__ import annotations

from seqeval.metrics import classification_report, f1_score, precision_score, recall_score
from seqeval.scheme import IOB2
from sklearn.metrics import f1_score as token_f1

PROTOCOL = "seqeval strict, IOB2, entity-level micro average"


def ner_scores(gold: list[list[str]], pred: list[list[str]]) -> dict:
    strict = {"mode": "strict", "scheme": IOB2}
    report = classification_report(gold, pred, output_dict=True, zero_division=0, **strict)
    per_type = {name: {"precision": v["precision"], "recall": v["recall"], "f1": v["f1-score"],
                       "support": int(v["support"])}
                for name, v in report.items() if not name.endswith(" avg")}
    flat_gold = [t for sentence in gold for t in sentence]
    flat_pred = [t for sentence in pred for t in sentence]
    return {
        "precision": precision_score(gold, pred, zero_division=0, **strict),
        "recall": recall_score(gold, pred, zero_division=0, **strict),
        "f1": f1_score(gold, pred, zero_division=0, **strict),
        "per_type": per_type,
        "protocol": PROTOCOL,
        "lenient": {"precision": precision_score(gold, pred, zero_division=0),
                    "recall": recall_score(gold, pred, zero_division=0),
                    "f1": f1_score(gold, pred, zero_division=0)},
        "token_weighted_f1_with_o": float(token_f1(flat_gold, flat_pred, average="weighted", zero_division=0)),
    }
