from __future__ import annotations

import json

import pytest
import torch
from transformers import get_linear_schedule_with_warmup

from medforge.models.presets import build_mlm
from medforge.pretrain import checkpoint as ckpt


@pytest.fixture
def parts(tiny_tokenizer):
    model = build_mlm("roberta", "tiny", tiny_tokenizer, 16)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    scheduler = get_linear_schedule_with_warmup(optimizer, 1, 10)
    return model, optimizer, scheduler


def test_checkpoint_holds_everything_and_loads_without_pickle(tmp_path, parts):
    model, optimizer, scheduler = parts
    folder = ckpt.save_checkpoint(tmp_path, 5, model, optimizer, scheduler, {"step": 5, "epoch": 0}, keep_last=2)
    assert folder.name == "checkpoint-5"
    assert json.loads((folder / "trainer_state.json").read_text())["step"] == 5
    for name in ("optimizer.pt", "scheduler.pt", "rng.pt"):
        torch.load(folder / name, weights_only=True)  # plain tensors and containers only
    host = json.loads((folder / "rng_host.json").read_text())
    assert host["numpy"][0] == "MT19937"
    assert not list(tmp_path.glob(".checkpoint-*"))


def test_keep_last_and_interrupted_saves_are_ignored(tmp_path, parts):
    model, optimizer, scheduler = parts
    for step in (1, 2, 3):
        ckpt.save_checkpoint(tmp_path, step, model, optimizer, scheduler, {"step": step}, keep_last=2)
    (tmp_path / ".checkpoint-4.tmp").mkdir()  # a save killed half-way
    assert [p.name for p in ckpt.list_checkpoints(tmp_path)] == ["checkpoint-2", "checkpoint-3"]
