from __future__ import annotations

import json

import pytest
import torch
from accelerate import Accelerator
from accelerate.state import AcceleratorState
from transformers import get_linear_schedule_with_warmup

from medforge.errors import MedforgeError
from medforge.models.mlm import SparseMLM
from medforge.models.presets import build_mlm
from medforge.pretrain import checkpoint as ckpt


@pytest.fixture
def parts(tiny_tokenizer):
    AcceleratorState._reset_state(reset_partial_state=False)
    accelerator = Accelerator(cpu=True)
    model = build_mlm("roberta", "tiny", tiny_tokenizer, 16)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    scheduler = get_linear_schedule_with_warmup(optimizer, 1, 10)
    objective, optimizer = accelerator.prepare(SparseMLM(model), optimizer)
    return accelerator, objective, optimizer, scheduler


def test_checkpoint_holds_everything_and_loads_without_pickle(tmp_path, parts):
    folder = ckpt.save_checkpoint(tmp_path, 5, *parts, {"step": 5, "epoch": 0}, keep_last=2)
    assert folder.name == "checkpoint-5"
    assert json.loads((folder / "trainer_state.json").read_text())["step"] == 5
    for name in ("optimizer.pt", "scheduler.pt", "rng.pt"):
        torch.load(folder / name, weights_only=True)  # plain tensors and containers only
    host = json.loads((folder / "rng_host.json").read_text())
    assert host["numpy"][0] == "MT19937"
    assert not list(tmp_path.glob(".checkpoint-*"))


def test_keep_last_and_interrupted_saves_are_ignored(tmp_path, parts):
    for step in (1, 2, 3):
        ckpt.save_checkpoint(tmp_path, step, *parts, {"step": step}, keep_last=2)
    (tmp_path / ".checkpoint-4.tmp").mkdir()  # a save killed half-way
    assert [p.name for p in ckpt.list_checkpoints(tmp_path)] == ["checkpoint-2", "checkpoint-3"]


def test_loading_restores_weights_and_refuses_a_mismatched_model(tmp_path, parts, tiny_tokenizer):
    accelerator, objective, optimizer, scheduler = parts
    folder = ckpt.save_checkpoint(tmp_path, 1, *parts, {"step": 1}, keep_last=2)
    saved = {k: v.clone() for k, v in objective.model.state_dict().items()}
    with torch.no_grad():
        for param in objective.parameters():
            param.add_(1.0)
    assert ckpt.load_checkpoint(folder, accelerator, objective, optimizer, scheduler) == {"step": 1}
    for name, value in objective.model.state_dict().items():
        torch.testing.assert_close(value, saved[name])

    other = build_mlm("roberta", "tiny", tiny_tokenizer, 32)  # more positions: a different shape
    wrapped = accelerator.prepare(SparseMLM(other))
    with pytest.raises(MedforgeError, match=r"checkpoint-1: checkpoint does not match(.|\n)*size mismatch"):
        ckpt.load_checkpoint(folder, accelerator, wrapped, optimizer, scheduler)


def test_every_file_and_folder_is_flushed_before_the_rename(tmp_path, parts, monkeypatch):
    synced, real_fsync = [], ckpt.os.fsync

    def record(fd):
        synced.append(ckpt.os.readlink(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    monkeypatch.setattr(ckpt.os, "fsync", record)
    folder = ckpt.save_checkpoint(tmp_path, 3, *parts, {"step": 3}, keep_last=2)
    tmp = str(tmp_path / ".checkpoint-3.tmp")
    for path in folder.iterdir():
        assert f"{tmp}/{path.name}" in synced, path.name  # flushed under its temporary name, before the rename
    assert tmp in synced and str(tmp_path) in synced  # the folder's entries, and the rename in the parent
