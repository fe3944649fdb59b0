from __future__ import annotations

import pytest

from medforge import paths
from medforge.errors import InputError


def test_same_named_folders_are_told_apart_by_their_paths():
    """The audit labelled five runs' tokenizers tokenizer#1 ... #5 without saying which was which."""
    refs = ["runs/drbert/tokenizer", "runs/biolm/tokenizer/", "camembert-base"]
    assert paths.short_names(refs) == ["drbert-tokenizer", "biolm-tokenizer", "camembert-base"]
    assert paths.short_names(["a/model", "b/model"]) == ["a-model", "b-model"]
    assert paths.short_names(["x/run/model", "y/run/model"]) == ["x-run-model", "y-run-model"]
    assert paths.short_names(["m", "m"]) == ["m#1", "m#2"]  # the same folder twice: numbered
    assert paths.short_names(["one/model"]) == ["model"]


def test_local_looking_paths_are_never_taken_for_hub_ids(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs").mkdir()
    for ref in ("runs/x/model", "runs/x", "./x", "a/b/c"):
        with pytest.raises(InputError, match="folder not found"):
            paths.model_ref(ref)
    assert paths.model_ref("almanach/camembert-bio-base") == "almanach/camembert-bio-base"  # org/name
    assert paths.model_ref("camembert-base") == "camembert-base"


def test_a_folder_that_is_not_a_model_is_named_with_what_it_lacks(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(InputError, match="lacks model.safetensors"):
        paths.check_model_folder(str(tmp_path))
    (tmp_path / "model.safetensors").write_bytes(b"")
    (tmp_path / "tokenizer.json").write_text("{}")
    paths.check_model_folder(str(tmp_path))
    paths.check_model_folder("camembert-base")  # a hub id: left to the loader
