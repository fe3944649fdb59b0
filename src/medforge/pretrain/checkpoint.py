"""Checkpoints: ``checkpoint-N/`` with model, optimizer, scheduler, RNG states and data position.

Written into a temporary folder and renamed, so an interrupted save never looks like a checkpoint.
"""

from __future__ import annotations

import json
import random
import re
import shutil
from pathlib import Path

import numpy as np
import torch

_NAME = re.compile(r"^checkpoint-(\d+)$")


def rng_state() -> dict:
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def list_checkpoints(folder: Path) -> list[Path]:
    found = [(int(m.group(1)), p) for p in Path(folder).iterdir() if (m := _NAME.match(p.name)) and p.is_dir()]
    return [p for _, p in sorted(found)]


def save_checkpoint(folder: Path, step: int, model, optimizer, scheduler, state: dict, keep_last: int) -> Path:
    final = Path(folder) / f"checkpoint-{step}"
    tmp = Path(folder) / f".checkpoint-{step}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp, safe_serialization=True)
    torch.save(optimizer.state_dict(), tmp / "optimizer.pt")
    torch.save(scheduler.state_dict(), tmp / "scheduler.pt")
    # RNG states hold Python tuples and numpy arrays: stored as plain JSON/tensors so that
    # loading never needs pickle.
    rng = rng_state()
    torch.save({"torch": rng["torch"], **({"cuda": rng["cuda"]} if "cuda" in rng else {})}, tmp / "rng.pt")
    py_state = rng["python"]
    np_state = rng["numpy"]
    (tmp / "rng_host.json").write_text(json.dumps({
        "python": [py_state[0], list(py_state[1]), py_state[2]],
        "numpy": [np_state[0], np_state[1].tolist(), int(np_state[2]), int(np_state[3]), float(np_state[4])],
    }))
    (tmp / "trainer_state.json").write_text(json.dumps(state, indent=2))
    if final.exists():
        shutil.rmtree(final)
    tmp.rename(final)
    for old in list_checkpoints(folder)[:-keep_last]:
        shutil.rmtree(old)
    return final


def latest_checkpoint(folder: Path) -> Path | None:
    found = list_checkpoints(folder) if Path(folder).is_dir() else []
    return found[-1] if found else None


def load_checkpoint(path: Path, model, optimizer, scheduler) -> dict:
    """Restore everything ``save_checkpoint`` wrote; return the trainer state (step, data position)."""
    from safetensors.torch import load_file

    weights = load_file(path / "model.safetensors")
    missing, unexpected = model.load_state_dict(weights, strict=False)
    # tied tensors (the MLM decoder shares the embeddings and the head's bias) are saved once
    state = model.state_dict()
    loaded = {state[k].data_ptr() for k in weights if k in state}
    missing = [k for k in missing if state[k].data_ptr() not in loaded]
    if unexpected or missing:
        raise RuntimeError(f"{path}: checkpoint does not match the model (missing {missing}, unexpected {unexpected})")
    optimizer.load_state_dict(torch.load(path / "optimizer.pt", weights_only=True))
    scheduler.load_state_dict(torch.load(path / "scheduler.pt", weights_only=True))
    tensors = torch.load(path / "rng.pt", weights_only=True)
    torch.set_rng_state(tensors["torch"])
    if "cuda" in tensors and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(tensors["cuda"])
    host = json.loads((path / "rng_host.json").read_text())
    version, internal, gauss = host["python"]
    random.setstate((version, tuple(internal), gauss))
    kind, keys, pos, has_gauss, cached = host["numpy"]
    np.random.set_state((kind, np.array(keys, dtype=np.uint32), pos, has_gauss, cached))
    return json.loads((path / "trainer_state.json").read_text())
