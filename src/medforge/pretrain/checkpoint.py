"""Checkpoints: ``checkpoint-N/`` with model, optimizer, scheduler, RNG states and data position.

Written into a temporary folder, flushed to disk (files, then the folder) and renamed, so an
interrupted save or a power loss never leaves something that looks like a checkpoint but is not one.
Saving is collective (every process calls it): under FSDP or DeepSpeed ZeRO the weights are
gathered from all processes, and the sharded optimizer state is written by each process through
``accelerator.save_state`` into ``sharded/``; under DDP or one process the main process writes a
plain ``optimizer.pt``.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
from pathlib import Path

import numpy as np
import torch
from accelerate.utils import DistributedType

from medforge.errors import MedforgeError

_NAME = re.compile(r"^checkpoint-(\d+)$")


def rng_state() -> dict:
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def list_checkpoints(folder: Path) -> list[Path]:
    found = [(int(m.group(1)), p) for p in Path(folder).iterdir() if (m := _NAME.match(p.name)) and p.is_dir()]
    return [p for _, p in sorted(found)]


def is_sharded(accelerator) -> bool:
    """Whether parameters or optimizer state are split over processes (no process holds them whole)."""
    return accelerator.distributed_type in (DistributedType.FSDP, DistributedType.DEEPSPEED)


def save_model(accelerator, objective, folder: Path) -> None:
    """The wrapped ``*ForMaskedLM`` as a standard HF folder (collective: gathers sharded weights)."""
    model = accelerator.unwrap_model(objective).model
    if not is_sharded(accelerator):
        if accelerator.is_main_process:
            model.save_pretrained(folder, safe_serialization=True)
        return
    weights = accelerator.get_state_dict(objective)  # the full weights, on the main process only
    if accelerator.is_main_process:
        # a distillation objective also holds the teacher: only the trained model's weights are saved
        model.save_pretrained(folder, state_dict={k.removeprefix("model."): v for k, v in weights.items()
                                                  if k.startswith("model.")}, safe_serialization=True)


def save_checkpoint(folder: Path, step: int, accelerator, objective, optimizer, scheduler, state: dict,
                    keep_last: int) -> Path:
    main = accelerator.is_main_process
    final = Path(folder) / f"checkpoint-{step}"
    tmp = Path(folder) / f".checkpoint-{step}.tmp"
    if main:
        shutil.rmtree(tmp, ignore_errors=True)
    accelerator.wait_for_everyone()
    save_model(accelerator, objective, tmp)
    if is_sharded(accelerator):
        accelerator.save_state(str(tmp / "sharded"), safe_serialization=True)
    if main:
        if not is_sharded(accelerator):
            torch.save(optimizer.state_dict(), tmp / "optimizer.pt")
        _save_host_state(tmp, scheduler, state)
    if main or is_sharded(accelerator):
        sync_tree(tmp)  # each process flushes what it wrote (shared filesystems flush per client)
    accelerator.wait_for_everyone()  # every shard is on disk before the folder becomes a checkpoint
    if main:
        if final.exists():
            shutil.rmtree(final)
        tmp.rename(final)
        _fsync(Path(folder))  # the rename itself
        for old in list_checkpoints(folder)[:-keep_last]:
            shutil.rmtree(old)
    accelerator.wait_for_everyone()
    return final


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def sync_tree(folder: Path) -> None:
    """fsync every file and folder under ``folder`` (the folders too: a file's name lives in its folder)."""
    for root, _, files in os.walk(folder):
        for name in files:
            _fsync(Path(root) / name)
        _fsync(Path(root))


def _save_host_state(tmp: Path, scheduler, state: dict) -> None:
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


def latest_checkpoint(folder: Path) -> Path | None:
    found = list_checkpoints(folder) if Path(folder).is_dir() else []
    return found[-1] if found else None


def load_checkpoint(path: Path, accelerator, objective, optimizer, scheduler) -> dict:
    """Restore everything ``save_checkpoint`` wrote into the prepared objective and optimizer; return the
    trainer state (step, data position)."""
    from safetensors.torch import load_file

    if (path / "sharded").is_dir() != is_sharded(accelerator):
        raise MedforgeError(f"{path} was saved {'with' if (path / 'sharded').is_dir() else 'without'} sharded "
                            "(FSDP/DeepSpeed) state and cannot be resumed under this launch; resume with the "
                            "launch configuration it was written with")
    if is_sharded(accelerator):
        accelerator.load_state(str(path / "sharded"))
    else:
        model = accelerator.unwrap_model(objective).model
        weights = load_file(path / "model.safetensors")
        try:
            missing, unexpected = model.load_state_dict(weights, strict=False)
        except RuntimeError as err:  # shapes differ: another preset, vocabulary or sequence length
            raise MedforgeError(f"{path}: checkpoint does not match the model: {err}; resume with the "
                                "configuration it was written with, or start a fresh run") from None
        # tied tensors (the MLM decoder shares the embeddings and the head's bias) are saved once
        state = model.state_dict()
        loaded = {state[k].data_ptr() for k in weights if k in state}
        missing = [k for k in missing if state[k].data_ptr() not in loaded]
        if unexpected or missing:
            raise MedforgeError(f"{path}: checkpoint does not match the model (missing {missing}, "
                                f"unexpected {unexpected})")
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
