import random

import numpy as np
import py3langid
import pytest

from medforge.corpus import langid

TEXTS = ["Le patient présente une fièvre depuis trois jours.", "The patient was admitted with chest pain.",
         "患者は胸痛で入院した。", "Der Patient wurde mit Brustschmerzen aufgenommen.", "", "12 345 678",
         "El paciente ingresó por dolor torácico."]


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return tmp_path_factory.mktemp("cache")


def _varied_texts(count: int) -> list[str]:
    """Scripts, case, controls, lone surrogates and raw bytes read as Latin-1, of every length from 0."""
    rnd = random.Random(7)
    alphabets = ["abcdefghijklmnopqrstuvwxyzéèàçôï  ,.'", "АБВГДабвгдежз ", "患者は胸痛で入院した。検査", "αβγδε ",
                 "0123456789 -/.", "".join(map(chr, range(0x20, 0x250))), "\x00\x07\t\n\r\u2028\ud800"]
    texts = []
    for i in range(count):
        letters = alphabets[i % len(alphabets)] + (rnd.choice(alphabets) if i % 3 else "")
        texts.append("".join(rnd.choice(letters) for _ in range(rnd.randrange(0, 400))))
    texts += [bytes(rnd.randrange(256) for _ in range(rnd.randrange(1, 300))).decode("latin-1") for _ in range(50)]
    return texts + [t.upper() for t in TEXTS] + [" ".join(TEXTS) * 20]


def test_same_answers_and_scores_as_the_package(root):
    """Language and raw score, to the last bit: the vector walk meets the same features in the same order."""
    ours = langid.identifier(root)
    texts = TEXTS + _varied_texts(400)
    expected = [py3langid.classify(t) for t in texts]
    assert [ours.classify(t) for t in texts] == expected
    for chunk in (2, 7, 256):  # texts walked together, empty ones among them
        assert ours.classify_batch(texts, chunk=chunk) == expected


def test_every_state_is_the_byte_by_byte_walk(root):
    """The windows of ``depth`` bytes give the state of the walk from the start, at every position: a depth one
    short of the model's does not."""
    ours = langid.identifier(root)

    def walked(data: bytes) -> list[int]:
        state, states = 0, []
        for byte in data:
            state = int(ours.moves[ours.rowbase[state] + byte])
            states.append(state)
        return states

    texts = [t.encode("utf8", errors="surrogatepass") for t in _varied_texts(120)]
    assert all(ours.states(data).tolist() == walked(data) for data in texts)
    lengths = np.array([len(data) for data in texts])
    together = ours.states(np.frombuffer(b"".join(texts), dtype=np.uint8), np.cumsum(lengths) - lengths)
    assert together.tolist() == [state for data in texts for state in walked(data)]  # each from its own start
    ours_short = langid.Identifier({**langid.arrays(root), "depth": np.array(ours.depth - 1)})
    assert any(ours_short.states(data).tolist() != walked(data) for data in texts)


def test_depth_of_a_small_automaton():
    """Two patterns, "a" and "ab": the longest prefix is 2 bytes."""
    rows = np.zeros((3, 256), dtype=np.uint32)
    rows[:, ord("a")] = 1  # from any state, "a" leads to the state for "a"
    rows[1, ord("b")] = 2
    assert langid.automaton_depth(rows.ravel(), np.arange(3, dtype=np.uint16)) == 2
    assert langid.automaton_depth(np.zeros(256, dtype=np.uint32), np.zeros(1, dtype=np.uint16)) == 0  # no pattern


def test_one_identifier_per_process(root):
    """The task engine builds a processor per input file: each must not rebuild the identifier (0.1 s)."""
    from medforge.corpus.filters import LanguageId

    assert langid.identifier(root) is langid.identifier(root)
    assert LanguageId()._classify.__self__ is LanguageId()._classify.__self__


def test_second_load_maps_the_cache(root):
    langid.identifier(root)  # written by the first load if not already
    folders = list(root.glob("py3langid-*"))
    assert len(folders) == 1 and not list(root.glob(".*tmp"))
    loaded = langid.arrays(root)
    assert isinstance(loaded["ptc"], np.memmap) and loaded["ptc"].shape[1] == len(loaded["classes"])


def test_damaged_cache_is_rewritten(tmp_path):
    langid.arrays(tmp_path)
    folder = next(tmp_path.glob("py3langid-*"))
    (folder / "nextmove.npy").write_bytes((folder / "nextmove.npy").read_bytes()[:1000])  # torn
    assert langid.identifier(tmp_path).classify(TEXTS[0])[0] == "fr"
    assert isinstance(langid.arrays(tmp_path)["nextmove"], np.memmap)  # whole again


def test_cache_without_the_depth_is_rewritten(tmp_path):
    """A cache written before the automaton's depth was kept with the model is replaced, not misread."""
    langid.arrays(tmp_path)
    folder = next(tmp_path.glob("py3langid-*"))
    (folder / "depth.npy").unlink()
    again = langid.arrays(tmp_path)
    assert (folder / "depth.npy").is_file() and again["ptc"].dtype == np.float32
    assert int(again["depth"]) == langid.automaton_depth(again["nextmove"], again["nextmove_row"]) > 0


def test_unwritable_cache_still_identifies(tmp_path):
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    assert langid.identifier(blocked).classify(TEXTS[1])[0] == "en"


def test_cache_root_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("MEDFORGE_CACHE", str(tmp_path / "mc"))
    assert langid.cache_root() == tmp_path / "mc"
    monkeypatch.delenv("MEDFORGE_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert langid.cache_root() == tmp_path / "xdg" / "medforge"
    monkeypatch.delenv("XDG_CACHE_HOME")

    def no_home():
        raise RuntimeError("Could not determine home directory.")

    monkeypatch.setattr(langid.Path, "home", staticmethod(no_home))
    assert langid.cache_root().name == "medforge-cache"


def test_copies_left_by_killed_writers_are_removed(tmp_path):
    """A process killed while writing the cache leaves its copy; the next load removes the copies whose
    writer is gone (same host) or that are over an hour old (another host), and keeps a live writer's."""
    import os
    import socket
    import subprocess
    import sys
    import time

    langid.arrays(tmp_path)
    folder = next(tmp_path.glob("py3langid-*"))
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    host = socket.gethostname()
    names = {"dead": f".{folder.name}.{host}.{int(dead.stdout)}.tmp",
             "alive": f".{folder.name}.{host}.{os.getpid()}.tmp",
             "old": f".{folder.name}.elsewhere.1.tmp", "recent": f".{folder.name}.elsewhere.2.tmp"}
    for name in names.values():
        (tmp_path / name).mkdir()
        (tmp_path / name / "ptc.npy").write_bytes(b"torn")
    os.utime(tmp_path / names["old"], (time.time() - 7200, time.time() - 7200))
    assert langid.arrays(tmp_path)["ptc"].shape[1] == len(langid.arrays(tmp_path)["classes"])
    assert sorted(p.name for p in tmp_path.glob(".*.tmp")) == sorted([names["alive"], names["recent"]])
