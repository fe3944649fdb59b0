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


def classification_scores(gold: list[str], pred: list[str], labels: list[str], negative: str = "") -> dict:
    """Single-label: accuracy, macro and micro F1 over the train label set (without the ``negative`` label,
    as relation extraction is scored), and F1 per label."""
    from sklearn.metrics import accuracy_score

    scored = [label for label in labels if label != negative]
    per_label = token_f1(gold, pred, labels=scored, average=None, zero_division=0)
    without = f", '{negative}' left out of F1" if negative else ""
    return {"accuracy": float(accuracy_score(gold, pred)),
            "macro_f1": float(token_f1(gold, pred, labels=scored, average="macro", zero_division=0)),
            "micro_f1": float(token_f1(gold, pred, labels=scored, average="micro", zero_division=0)),
            "per_label": {label: {"f1": float(f)} for label, f in zip(scored, per_label)},
            "protocol": f"single-label classification; F1 over the labels seen in train{without}"}


def similarity_scores(gold: list[float], pred: list[float]) -> dict:
    """Pearson and Spearman correlations of predicted and gold scores (0 when either side is constant)."""
    from scipy.stats import pearsonr, spearmanr

    constant = len(set(gold)) < 2 or len(set(pred)) < 2
    return {"pearson": 0.0 if constant else float(pearsonr(gold, pred)[0]),
            "spearman": 0.0 if constant else float(spearmanr(gold, pred)[0]),
            "protocol": "sentence-pair regression; Pearson and Spearman correlation with the gold scores"}


def multilabel_scores(gold: list[tuple[str, ...]], pred: list[tuple[str, ...]], labels: list[str]) -> dict:
    """Multi-label at a 0.5 threshold: micro and macro F1 over the train label set, exact-match accuracy."""
    from sklearn.preprocessing import MultiLabelBinarizer

    binarizer = MultiLabelBinarizer(classes=labels)
    known = set(labels)
    y_true = binarizer.fit_transform([[x for x in g if x in known] for g in gold])
    y_pred = binarizer.transform(pred)
    per_label = token_f1(y_true, y_pred, average=None, zero_division=0)
    return {"micro_f1": float(token_f1(y_true, y_pred, average="micro", zero_division=0)),
            "macro_f1": float(token_f1(y_true, y_pred, average="macro", zero_division=0)),
            "accuracy": float((y_true == y_pred).all(axis=1).mean()),
            "per_label": {label: {"f1": float(f)} for label, f in zip(labels, per_label)},
            "protocol": "multi-label classification, sigmoid outputs at a 0.5 threshold"}


# the labelled kinds' scorers, one signature: gold and predictions as tuples (labels, or one score)
def single_label_scores(gold: list[tuple], pred: list[tuple], labels: list[str], negative: str = "") -> dict:
    return classification_scores([g[0] for g in gold], [p[0] for p in pred], labels, negative)


def multi_label_scores(gold: list[tuple], pred: list[tuple], labels: list[str], negative: str = "") -> dict:
    return multilabel_scores(gold, pred, labels)


def score_scores(gold: list[tuple], pred: list[tuple], labels: list[str], negative: str = "") -> dict:
    return similarity_scores([float(g[0]) for g in gold], [float(p[0]) for p in pred])
