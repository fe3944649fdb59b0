"""format: hub, tested on local folders that datasets loads the way it loads a hub data set."""

from __future__ import annotations

import pytest
from datasets import ClassLabel, Dataset, Features, Sequence, Value

from medforge.errors import ConfigError, InputError
from medforge.tasks.data import read_task
from medforge.tasks.spec import load_task

TAGS = ["O", "B-Disease", "I-Disease"]


def ner_folder(tmp_path):
    folder = tmp_path / "ner"
    folder.mkdir()
    features = Features({"tokens": Sequence(Value("string")), "ner_tags": Sequence(ClassLabel(names=TAGS))})
    rows = {"train": [(["High", "fever"], [1, 2]), (["ok"], [0])], "validation": [(["fever"], [2])],
            "test": [(["no", "fever"], [0, 1])]}
    for split, data in rows.items():
        Dataset.from_dict({"tokens": [t for t, _ in data], "ner_tags": [g for _, g in data]},
                          features=features).to_parquet(str(folder / f"{split}.parquet"))
    return folder


def test_ner_from_a_datasets_folder_with_class_names_and_repairs(tmp_path):
    folder = ner_folder(tmp_path)
    (tmp_path / "t.yaml").write_text(f"name: t\nformat: hub\nhub_dataset: {folder}\ntrain: train\ndev: validation\n"
                                     "test: test\n")
    data = read_task(load_task(str(tmp_path / "t.yaml")))
    assert data.splits["train"].sentences[0].tags == ["B-Disease", "I-Disease"]
    assert data.splits["dev"].sentences[0].tags == ["B-Disease"] and data.splits["dev"].repaired_tags == 1
    assert data.labels == ["O", "B-Disease", "I-Disease"]


def test_classification_from_a_datasets_folder(tmp_path):
    folder = tmp_path / "cls"
    folder.mkdir()
    features = Features({"sentence": Value("string"), "label": ClassLabel(names=["neg", "pos"])})
    for split in ("train", "test"):
        Dataset.from_dict({"sentence": ["good", "bad", "fine", "great", "poor", "nice", "awful", "okay"],
                           "label": [1, 0, 1, 1, 0, 1, 0, 1]},
                          features=features).to_parquet(str(folder / f"{split}.parquet"))
    (tmp_path / "t.yaml").write_text("name: c\ntype: classification\nformat: hub\nhub_dataset: cls\ntrain: train\n"
                                     "dev: ''\ndev_fraction: 0.3\ntest: test\ntext_column: sentence\n")
    data = read_task(load_task(str(tmp_path / "t.yaml")))  # relative to the task file's folder
    assert data.labels == ["neg", "pos"] and data.splits["test"].examples[1].labels == ("neg",)
    assert len(data.splits["train"].examples) + len(data.splits["dev"].examples) == 8
    (tmp_path / "t.yaml").write_text((tmp_path / "t.yaml").read_text().replace("sentence", "body"))
    with pytest.raises(InputError, match=r"no column 'body'; the file has: sentence, label"):
        read_task(load_task(str(tmp_path / "t.yaml")))


def test_hub_settings_go_together(tmp_path):
    (tmp_path / "t.yaml").write_text("name: t\nformat: hub\ntrain: train\ntest: test\n")
    with pytest.raises(ConfigError, match="'hub_dataset' and format: hub go together"):
        load_task(str(tmp_path / "t.yaml"))
    (tmp_path / "t.yaml").write_text("name: t\nformat: hub\nhub_dataset: nowhere-xyz/none\ntrain: train\ntest: test\n")
    with pytest.raises(InputError, match="cannot load split 'train'"):
        read_task(load_task(str(tmp_path / "t.yaml")))
