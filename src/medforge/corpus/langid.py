"""py3langid's model and classifier: decompressed once per machine instead of once per process, and its
automaton walked with numpy instead of a Python loop over bytes.

The package ships its model xz-compressed (4.5 MB, 68 MB of arrays); decompressing it took 0.7 s in every
preparation process, a fifth of a worker's start. The arrays are written uncompressed to the user's cache
(``MEDFORGE_CACHE``, else ``$XDG_CACHE_HOME/medforge``, else ``~/.cache/medforge``) under a name holding the
model file's hash, and memory-mapped from there (0.05 s). The cache is only ever read with
``allow_pickle=False``; a cache that cannot be written (read-only home) or read (damaged) falls back to the
package's own file.

The automaton is an Aho-Corasick one over byte n-grams: the state after a byte stands for the longest
n-gram prefix ending there, at most ``depth`` bytes (6 for this model), so it depends on those bytes only.
Every position's state is then ``depth`` vector steps over the whole text, each position reading its own
window, instead of one Python step per byte: the same states, the same feature counts in the same order,
the same float scores (tested against the package on real and random text); 1.1 ms a 2,000-byte document
in the package's loop.
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
import unicodedata
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)
_ARRAYS = ("ptc", "pc", "classes", "nextmove", "nextmove_row", "out_feat", "depth")
RAW_FLOOR = float(np.finfo(np.float32).min)  # py3langid's score of every language for a text without features


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
            found = {name: data[name] for name in _ARRAYS if name != "depth"}
    # float16 in the package: numpy converts the gathered rows on every call (0.3 ms a document); the sums
    # are the same from float32 rows (tested), so the cache holds those (57 MB instead of 28)
    found["ptc"] = found["ptc"].astype(np.float32)
    found["depth"] = np.array(automaton_depth(found["nextmove"], found["nextmove_row"]))
    return found


def automaton_depth(nextmove: np.ndarray, nextmove_row: np.ndarray) -> int:
    """How many bytes back a state can depend on: breadth first from the start state, the number of steps
    to the last state reached (0.15 s, once per model, cached with it). In an Aho-Corasick automaton the
    fewest bytes leading to a state is the length of the n-gram prefix it stands for."""
    moves = nextmove.reshape(-1, 256)
    seen = np.zeros(len(nextmove_row), dtype=bool)
    seen[0] = True
    frontier, depth = np.zeros(1, dtype=np.int64), 0
    while True:
        rows = np.flatnonzero(np.bincount(nextmove_row[frontier], minlength=len(moves)))
        reached = np.zeros_like(seen)
        reached[moves[rows].ravel()] = True
        reached &= ~seen
        frontier = np.flatnonzero(reached)
        if not len(frontier):
            return depth
        seen |= reached
        depth += 1


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


class Identifier:
    """``classify(text)`` as py3langid's ``LanguageIdentifier.classify`` (no probability normalisation):
    (language, raw score)."""

    def __init__(self, a: dict[str, np.ndarray]):
        self.ptc, self.pc = np.asarray(a["ptc"]), np.asarray(a["pc"])  # views: a memmap indexes slower
        self.classes = a["classes"].tolist()
        self.moves = np.asarray(a["nextmove"])
        self.rowbase = np.asarray(a["nextmove_row"]).astype(np.intp) << 8
        self.output = np.asarray(a["out_feat"])
        self.depth = int(a["depth"])
        first: dict[str, int] = {}
        self.aliases = [(first[c], i) for i, c in enumerate(self.classes) if first.setdefault(c, i) != i]

    def states(self, data: bytes) -> np.ndarray:
        """The automaton's state after every byte, as its byte-by-byte walk from the start would give."""
        text = np.frombuffer(data, dtype=np.uint8)
        state = np.zeros(len(text), dtype=np.intp)
        for back in range(min(self.depth, len(text)) - 1, -1, -1):
            # position p reads byte p - back; a window that would start before the text starts at it
            state[back:] = self.moves[self.rowbase[state[back:]] + text[:len(text) - back]]
        return state

    def scores(self, text: str) -> np.ndarray:
        if text.isupper():
            text = text.lower()
        data = unicodedata.normalize("NFC", text).encode("utf8", errors="surrogatepass")
        features = self.output[self.states(data)]
        features = features[features >= 0]
        if not len(features):
            scores = np.full(len(self.classes), RAW_FLOOR, dtype=np.float32)
        else:
            found, first, counts = np.unique(features, return_index=True, return_counts=True)
            order = np.argsort(first)  # the package counts features in the order first met: same sums
            scores = np.log1p(counts[order].astype(np.float32)) @ self.ptc[found[order]] + self.pc
        for i, j in self.aliases:  # one label under two columns (a script variant): the better one speaks
            scores[i] = max(scores[i], scores[j])
            scores[j] = RAW_FLOOR
        return scores

    def classify(self, text: str) -> tuple[str, float]:
        scores = self.scores(text)
        best = int(scores.argmax())
        return self.classes[best], float(scores[best])


@functools.cache
def identifier(root: Path | None = None) -> Identifier:
    """One per process: the task engine makes a processor per input file."""
    return Identifier(arrays(root))
