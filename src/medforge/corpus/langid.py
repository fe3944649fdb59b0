"""py3langid's model, decompressed once per machine instead of once per process.

The package ships its model xz-compressed (4.5 MB, 68 MB of arrays); decompressing it took 0.7 s in every
preparation process, a fifth of a worker's start. The arrays are written uncompressed to the user's cache
(``MEDFORGE_CACHE``, else ``$XDG_CACHE_HOME/medforge``, else ``~/.cache/medforge``) under a name holding the
model file's hash, and memory-mapped from there (0.05 s). The cache is only ever read with
``allow_pickle=False``; a cache that cannot be written (read-only home) or read (damaged) falls back to the
package's own file.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import lzma
import os
import shutil
import socket
import tempfile
import time
from array import array
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)
_ARRAYS = ("ptc", "pc", "classes", "nextmove", "nextmove_row", "out_feat")
_TYPECODES = {2: "H", 4: "I", 8: "L"}


def cache_root() -> Path:
    if os.environ.get("MEDFORGE_CACHE"):
        return Path(os.environ["MEDFORGE_CACHE"]).expanduser()
    if os.environ.get("XDG_CACHE_HOME"):
        return Path(os.environ["XDG_CACHE_HOME"]).expanduser() / "medforge"
    try:
        return Path.home() / ".cache" / "medforge"
    except RuntimeError:  # no home folder (a bare container user): a folder every process of this machine sees
        return Path(tempfile.gettempdir()) / "medforge-cache"


def _model_file() -> Path:
    from py3langid import langid

    return Path(langid.MODEL_DIR) / langid.MODEL_FILE


def _read(folder: Path) -> dict[str, np.ndarray] | None:
    try:
        return {name: np.load(folder / f"{name}.npy", mmap_mode="r", allow_pickle=False) for name in _ARRAYS}
    except (OSError, ValueError):
        return None


def _unpack(model: Path) -> dict[str, np.ndarray]:
    with tempfile.TemporaryFile(suffix=".npz") as tmp:
        with lzma.open(model) as src:
            shutil.copyfileobj(src, tmp, length=1 << 20)
        tmp.seek(0)
        with np.load(tmp, allow_pickle=False) as data:
            return {name: data[name] for name in _ARRAYS}


def _tmp(folder: Path) -> Path:
    return folder.with_name(f".{folder.name}.{socket.gethostname()}.{os.getpid()}.tmp")


def _sweep(folder: Path) -> None:
    """Remove what a process killed while writing left (68 MB each): on this host, copies whose writer is
    gone; from another host sharing the folder, copies older than an hour (a copy takes about a second)."""
    host = socket.gethostname()
    for tmp in folder.parent.glob(f".{folder.name}.*.tmp"):
        writer, _, pid = tmp.name[len(folder.name) + 2:-len(".tmp")].rpartition(".")
        try:
            if writer == host and pid.isdigit():
                try:
                    os.kill(int(pid), 0)
                    continue  # still writing
                except ProcessLookupError:
                    pass
                except PermissionError:  # another user's live process
                    continue
            elif time.time() - tmp.stat().st_mtime < 3600:
                continue
        except OSError:
            continue
        shutil.rmtree(tmp, ignore_errors=True)


def _write(arrays: dict[str, np.ndarray], folder: Path) -> None:
    """Written beside and renamed into place: concurrent processes each write their own and one rename wins."""
    tmp = _tmp(folder)
    try:
        tmp.mkdir(parents=True, exist_ok=True)
        for name, values in arrays.items():
            np.save(tmp / f"{name}.npy", values, allow_pickle=False)
        os.rename(tmp, folder)
    except OSError as exc:  # another process's copy landed first, or the cache cannot be written
        if not folder.is_dir():
            log.info("language model not cached in %s (%s); it is decompressed in every process", folder, exc)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def arrays(root: Path | None = None) -> dict[str, np.ndarray]:
    """The model's arrays: from the cache, or decompressed (and cached for the next process)."""
    model = _model_file()
    digest = hashlib.blake2b(model.read_bytes(), digest_size=8).hexdigest()
    folder = (root or cache_root()) / f"py3langid-{digest}"
    _sweep(folder)
    found = _read(folder) if folder.is_dir() else None
    if found is not None:
        return found
    shutil.rmtree(folder, ignore_errors=True)  # damaged: written again
    unpacked = _unpack(model)
    _write(unpacked, folder)
    return unpacked


def _stdlib(values: np.ndarray) -> array:
    """py3langid walks its automaton with a stdlib array (faster to index from Python than numpy)."""
    out = array(_TYPECODES[values.dtype.itemsize])
    out.frombytes(np.ascontiguousarray(values).tobytes())
    return out


@functools.cache
def identifier(root: Path | None = None) -> Any:
    """One per process (0.1 s to build: hashing the model file, converting the automaton): the task engine
    makes a processor per input file."""
    from py3langid.langid import LanguageIdentifier

    a = arrays(root)
    return LanguageIdentifier(a["ptc"], np.asarray(a["pc"]), a["classes"].tolist(), _stdlib(a["nextmove"]),
                              a["out_feat"].tolist(), tk_row=_stdlib(a["nextmove_row"]))
