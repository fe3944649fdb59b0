from __future__ import annotations

import pytest
from seqeval.metrics import f1_score

from medforge.tasks.metrics import ner_scores


def test_strict_scores_on_a_hand_counted_case():
    gold = [["B-D", "I-D", "O", "B-C"], ["B-D", "O"]]
    pred = [["B-D", "I-D", "O", "B-D"], ["B-D", "I-D"]]
    # gold entities: D(0-1), C(3), D(s2 0); predicted: D(0-1) right, D(3) wrong type, D(s2 0-1) wrong span
    s = ner_scores(gold, pred)
    assert s["precision"] == pytest.approx(1 / 3) and s["recall"] == pytest.approx(1 / 3)
    assert s["per_type"]["C"]["support"] == 1 and s["per_type"]["D"]["f1"] == pytest.approx(0.4)


def test_strict_differs_from_seqeval_default_lenient_mode():
    gold = [["B-D", "I-D", "O"]]
    pred = [["I-D", "I-D", "O"]]  # ill-formed start: lenient mode credits it, strict does not
    assert f1_score(gold, pred) == 1.0
    assert ner_scores(gold, pred)["f1"] == 0.0


def test_the_other_conventions_are_reported_beside_the_headline():
    gold = [["B-D", "I-D", "O", "O", "O", "O"]]
    pred = [["I-D", "I-D", "O", "O", "O", "B-D"]]
    s = ner_scores(gold, pred)
    assert s["f1"] == 0.0
    assert s["lenient"]["f1"] == pytest.approx(f1_score(gold, pred)) == pytest.approx(2 / 3)
    # per tag F1 (support): B-D 0 (1); I-D P 1/2 R 1 -> 2/3 (1); O P 1 R 3/4 -> 6/7 (4)
    assert s["token_weighted_f1_with_o"] == pytest.approx((0 + 2 / 3 + 4 * 6 / 7) / 6)
