"""Provenance written next to every output: package versions, git commit, input fingerprints."""

from __future__ import annotations

import hashlib
import json
import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path

from medforge import paths

PACKAGES = ("medforge", "torch", "transformers", "tokenizers", "datasets", "accelerate", "seqeval",
            "safetensors", "huggingface_hub", "numpy", "pyarrow")
_CHUNK = 1 << 20


def versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return found


def hardware() -> str:
    """The accelerator (or CPU) this process runs on, for provenance and the model card."""
    import os

    import torch

    if torch.cuda.is_available():
        return torch.cuda.get_device_name(0)
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            cpu = next((line.split(":", 1)[1].strip() for line in fh if line.startswith("model name")), cpu)
    except OSError:
        pass
    return f"CPU ({cpu}, {os.cpu_count()} cores)"


def git_commit() -> dict[str, str | bool] | None:
    """The commit of the medforge source in use, and whether it had uncommitted changes."""
    where = Path(__file__).resolve().parent
    try:
        commit = subprocess.run(["git", "-C", str(where), "rev-parse", "HEAD"], capture_output=True,
                                text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(where), "status", "--porcelain", "--", "."],
                               capture_output=True, text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": commit, "dirty": bool(dirty)}


def _hash_file(path: Path, digest) -> None:
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)


def fingerprint(path: str | Path) -> str:
    """sha256 of a file's bytes, of a folder's files (names and bytes), or of a hub id's name."""
    local = paths.resolve(path)
    digest = hashlib.sha256()
    if local.is_file():
        _hash_file(local, digest)
    elif local.is_dir():
        for item in sorted(p for p in local.rglob("*") if p.is_file()):
            digest.update(str(item.relative_to(local)).encode())
            _hash_file(item, digest)
    else:
        digest.update(f"id:{path}".encode())
    return digest.hexdigest()


def hash_json(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


def write_json(path: str | Path, obj) -> None:
    """Atomically: a crash while writing leaves the old file (or none), never a torn one (markers are JSON)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(obj, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    os.replace(tmp, path)
