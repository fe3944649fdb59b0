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
the same float scores (tested against the package on real and random text). A batch's texts are walked
together. On this project's 2-core host, a bench document (1,400 bytes): the package 0.9-1.1 ms, here
0.42-0.46 ms alone and 0.23-0.30 ms in batches of 256.
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


def _encoded(text: str) -> bytes:
    """The package's own preparation of a text: lowered when all upper case, NFC, UTF-8."""
    if text.isupper():
        text = text.lower()
    return unicodedata.normalize("NFC", text).encode("utf8", errors="surrogatepass")


class Identifier:
    """``classify(text)`` as py3langid's ``LanguageIdentifier.classify`` (no probability normalisation):
    (language, raw score); ``classify_batch`` does many texts in one walk, 1.7x faster a text."""

    def __init__(self, a: dict[str, np.ndarray]):
        self.ptc, self.pc = np.asarray(a["ptc"]), np.asarray(a["pc"])  # views: a memmap indexes slower
        self.classes = a["classes"].tolist()
        self.moves = np.asarray(a["nextmove"])
        self.rowbase = np.asarray(a["nextmove_row"]).astype(np.intp) << 8
        self.output = np.asarray(a["out_feat"])
        self.depth = int(a["depth"])
        first: dict[str, int] = {}
        self.aliases = [(first[c], i) for i, c in enumerate(self.classes) if first.setdefault(c, i) != i]

    def states(self, data: bytes | np.ndarray, starts: np.ndarray | None = None) -> np.ndarray:
        """The automaton's state after every byte, as its byte-by-byte walk from the start of each text would
        give; ``starts``: where each text of a concatenation starts (one text if not given)."""
        data = np.frombuffer(data, dtype=np.uint8) if isinstance(data, bytes) else data
        state = np.zeros(len(data), dtype=np.intp)
        for back in range(min(self.depth, len(data)) - 1, -1, -1):
            # position p reads byte p - back: its window; one that would start before the data starts at it
            state[back:] = self.moves[self.rowbase[state[back:]] + data[:len(data) - back]]
        if starts is not None and len(starts) > 1:
            # a text's first depth - 1 positions read the previous text's last bytes: walked again from the start
            ends = np.append(starts[1:], len(data))
            walk = np.zeros(len(starts), dtype=np.intp)
            for ahead in range(self.depth - 1):
                live = np.flatnonzero(starts + ahead < ends)
                at = starts[live] + ahead
                walk[live] = state[at] = self.moves[self.rowbase[walk[live]] + data[at]]
        return state

    def scores_batch(self, texts: list[str]) -> list[np.ndarray]:
        encoded = [_encoded(text) for text in texts]
        lengths = np.fromiter(map(len, encoded), dtype=np.intp, count=len(encoded))
        starts = np.cumsum(lengths) - lengths
        features = self.output[self.states(np.frombuffer(b"".join(encoded), dtype=np.uint8), starts)]
        hit = np.flatnonzero(features >= 0)
        # one key per (text, feature); the package counts a text's features in the order first met: same sums
        keys = np.repeat(np.arange(len(texts), dtype=np.int64), lengths)[hit] * len(self.ptc) + features[hit]
        found, first, counts = np.unique(keys, return_index=True, return_counts=True)
        order = np.argsort(first)  # positions: text by text, each in the order first met
        found, weights = found[order], np.log1p(counts[order].astype(np.float32))
        rows, bounds = found % len(self.ptc), np.searchsorted(found // len(self.ptc), np.arange(len(texts) + 1))
        out = []
        for a, b in zip(bounds[:-1].tolist(), bounds[1:].tolist()):
            if a == b:
                scores = np.full(len(self.classes), RAW_FLOOR, dtype=np.float32)
            else:
                scores = weights[a:b] @ self.ptc[rows[a:b]] + self.pc
            for i, j in self.aliases:  # one label under two columns (a script variant): the better one speaks
                scores[i] = max(scores[i], scores[j])
                scores[j] = RAW_FLOOR
            out.append(scores)
        return out

    def classify_batch(self, texts: list[str], chunk: int = 256) -> list[tuple[str, float]]:
        """``chunk`` texts a walk: its arrays take about 40 bytes a byte of text."""
        found = []
        for at in range(0, len(texts), chunk):
            best = [(int(scores.argmax()), scores) for scores in self.scores_batch(texts[at:at + chunk])]
            found += [(self.classes[i], float(scores[i])) for i, scores in best]
        return found

    def classify(self, text: str) -> tuple[str, float]:
        return self.classify_batch([text])[0]


@functools.cache
def identifier(root: Path | None = None) -> Identifier:
    """One per process: the task engine makes a processor per input file."""
    return Identifier(arrays(root))
