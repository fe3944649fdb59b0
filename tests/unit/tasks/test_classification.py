from __future__ import annotations

import pytest

from medforge.errors import InputError
from medforge.tasks.classification import read_examples
from medforge.tasks.metrics import classification_scores, multilabel_scores


@pytest.mark.parametrize(("fmt", "text"), [
    ("tsv", "id\ttext\tlabel\n1\tFever and cough\tA|B\n2\tNo finding\t\n3\t  \tA\n"),
    ("csv", 'id,text,label\n1,"Fever and cough",A|B\n2,No finding,\n3,"  ",A\n'),
    ("jsonl", '{"text": "Fever and cough", "label": ["A", "B"]}\n{"text": "No finding", "label": ""}\n\n'
              '{"text": "", "label": "A"}\n'),
])
def test_every_format_reads_multilabel_rows_and_counts_empty_texts(tmp_path, fmt, text):
    path = tmp_path / f"f.{fmt}"
    path.write_text(text)
    f = read_examples(path, fmt, "text", "label", True, "|")
    assert [(e.text, e.labels) for e in f.examples] == [("Fever and cough", ("A", "B")), ("No finding", ())]
    assert f.dropped == {"empty_text": 1} and f.label_set == {"A", "B"}


@pytest.mark.parametrize(("fmt", "text", "match"), [
    ("tsv", "id\tbody\tlabel\n1\tx\tA\n", r"f\.tsv:2: no column 'text'; the file has: id, body, label"),
    ("tsv", "text\tlabel\nx\tA\textra\n", r"f\.tsv:2: the number of cells differs from the header's 2"),
    ("jsonl", '{"text": "x", "label": "A"}\n{"text": "y", \n', r"f\.jsonl:2: not valid JSON"),
    ("jsonl", '{"text": "x", "label": ["A", "B"]}\n', r"f\.jsonl:1: expected one label"),
    ("tsv", "text\tlabel\n", r"no example found"),
])
def test_bad_rows_name_the_file_line_and_fix(tmp_path, fmt, text, match):
    path = tmp_path / f"f.{fmt}"
    path.write_text(text)
    with pytest.raises(InputError, match=match):
        read_examples(path, fmt, "text", "label", False, "|")


def test_invalid_utf8_names_the_line(tmp_path):
    path = tmp_path / "f.tsv"
    path.write_bytes(b"text\tlabel\nok\tA\nbad \xff\tA\n")
    with pytest.raises(InputError, match=r"f\.tsv:3: not valid UTF-8"):
        read_examples(path, "tsv", "text", "label", False, "|")


def test_classification_metrics_by_hand():
    s = classification_scores(["a", "a", "b", "c"], ["a", "b", "b", "b"], ["a", "b", "c"])
    # a: P 1 R 1/2 F 2/3; b: P 1/3 R 1 F 1/2; c: 0
    assert s["accuracy"] == 0.5 and s["macro_f1"] == pytest.approx((2 / 3 + 1 / 2) / 3)
    assert s["micro_f1"] == pytest.approx(0.5)


def test_multilabel_metrics_by_hand_and_unseen_labels_left_out():
    gold = [("a", "b"), (), ("b", "z")]  # z was never seen in train
    pred = [("a",), ("b",), ("b",)]
    s = multilabel_scores(gold, pred, ["a", "b"])
    # a: tp 1; b: tp 1, fp 1, fn 1 -> micro P 2/3 R 2/3
    assert s["micro_f1"] == pytest.approx(2 / 3) and s["macro_f1"] == pytest.approx((1 + 0.5) / 2)
    assert s["accuracy"] == pytest.approx(1 / 3)
