from __future__ import annotations

import pytest

from medforge.errors import ConfigError, InputError
from medforge.tasks.data import read_ner_task, read_task
from medforge.tasks.spec import builtin_names, load_task
from tests_shared import shared_data

# (name, entity types, sentences in train+dev+test)
BUILTIN = {"ncbi-disease": ({"Disease"}, 5424 + 923 + 940), "bc5cdr": ({"Chemical", "Disease"}, 4560 + 4581 + 4797),
           "e3c": ({"ety"}, 504 + 605), "quaero-emea": (10, 742 + 689 + 641),
           "quaero-emea-brat": (10, 706 + 655 + 581), "medtxt-cr": (12, 1539 + 205 + 167)}


# (name, labels, examples in train+dev+test)
CLS_BUILTIN = {"hoc": (10, 12164 + 1803 + 3497), "chemprot": (13, 4169 + 2427 + 3469),
               "morfitt": (12, 1514 + 1022 + 1088)}


def test_every_builtin_parses_and_names_its_language():
    assert set(builtin_names()) == set(BUILTIN) | set(CLS_BUILTIN)
    for name in builtin_names():
        spec = load_task(name, "/data")
        assert spec.name == name and spec.language and str(spec.path("train")).startswith("/data/")


@pytest.mark.parametrize("name", sorted(BUILTIN))
def test_builtin_tasks_read_the_shared_data(name):
    root = shared_data("ner").parent
    data = read_ner_task(load_task(name, str(root)))
    types, sentences = BUILTIN[name]
    train_types = data.splits["train"].types
    assert (train_types == types) if isinstance(types, set) else len(train_types) == types
    assert sum(len(f.sentences) for f in data.splits.values()) == sentences  # nothing dropped; e3c's dev carved


@pytest.mark.parametrize("name", sorted(CLS_BUILTIN))
def test_builtin_classification_tasks_read_the_shared_data(name):
    root = shared_data("cls").parent
    data = read_task(load_task(name, str(root)))
    n_labels, examples = CLS_BUILTIN[name]
    assert len(data.labels) == n_labels
    assert sum(len(f.examples) for f in data.splits.values()) == examples  # nothing dropped


def test_a_task_file_reads_relative_to_its_folder_and_carves_a_dev_split(tmp_path):
    lines = [f"w{i} B-X\nend O\n" for i in range(40)]
    (tmp_path / "train.txt").write_text("\n".join(lines))
    (tmp_path / "test.txt").write_text("a B-X\n")
    (tmp_path / "t.yaml").write_text("name: t\ntrain: train.txt\ndev: ''\ndev_fraction: 0.25\ntest: test.txt\n")
    data = read_ner_task(load_task(str(tmp_path / "t.yaml")))
    dev, train = len(data.splits["dev"].sentences), len(data.splits["train"].sentences)
    assert dev + train == 40 and 3 <= dev <= 20 and "held out as validation" in data.notes[0]
    again = read_ner_task(load_task(str(tmp_path / "t.yaml")))
    assert [s.tokens for s in again.splits["dev"].sentences] == [s.tokens for s in data.splits["dev"].sentences]


@pytest.mark.parametrize(("text", "match"), [
    ("name: t\ntrain: a\ntest: b\ntype: coreference\n", "task type 'coreference' is not supported"),
    ("name: t\ntrain: a\ndev: ''\ndev_fraction: 0\ntest: b\n", "no 'dev' file: set 'dev_fraction'"),
    ("name: t\ntrain: a\ntest: b\nshceme: iob2\n", "scheme"),
    ("name: t\ntype: classification\ntrain: a\ntest: b\n", "'format' 'conll' does not suit a classification task"),
    ("name: t\ntype: multilabel\nformat: tsv\nmetric: accuracy\ntrain: a\ntest: b\n", "'metric' 'accuracy' is not"),
])
def test_bad_task_files_name_the_problem(tmp_path, text, match):
    (tmp_path / "t.yaml").write_text(text)
    with pytest.raises(ConfigError, match=match):
        load_task(str(tmp_path / "t.yaml"))


def test_a_missing_split_file_is_named(tmp_path):
    (tmp_path / "t.yaml").write_text("name: t\ntrain: nope.conll\ntest: nope.conll\ndev: nope.conll\n")
    with pytest.raises(InputError, match="nope.conll: NER file not found"):
        read_ner_task(load_task(str(tmp_path / "t.yaml")))


def test_types_absent_from_train_are_counted_in_the_notes(tmp_path):
    (tmp_path / "train.conll").write_text("a B-X\nb O\n")
    (tmp_path / "dev.conll").write_text("a B-X\n")
    (tmp_path / "test.conll").write_text("a B-Y\nb I-Y\n\nc B-Y\n")
    (tmp_path / "t.yaml").write_text("name: t\ntrain: train.conll\ndev: dev.conll\ntest: test.conll\n")
    data = read_ner_task(load_task(str(tmp_path / "t.yaml")))
    assert data.unseen() == {"dev": {}, "test": {"Y": 2}} and data.labels == ["O", "B-X", "I-X"]
    assert data.notes == ["test: absent from train (Y x2), so never predicted: they count as missed"]
