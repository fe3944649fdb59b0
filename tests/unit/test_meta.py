from __future__ import annotations

from medforge import meta


def test_fingerprints_follow_content_not_names(tmp_path):
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_text("same")
    b.write_text("same")
    assert meta.fingerprint(a) == meta.fingerprint(b)
    b.write_text("other")
    assert meta.fingerprint(a) != meta.fingerprint(b)


def test_folder_fingerprint_sees_names_and_bytes(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "x").write_text("1")
    first = meta.fingerprint(tmp_path / "d")
    (tmp_path / "d" / "x").write_text("2")
    second = meta.fingerprint(tmp_path / "d")
    (tmp_path / "d" / "x").rename(tmp_path / "d" / "y")
    assert len({first, second, meta.fingerprint(tmp_path / "d")}) == 3


def test_hub_ids_are_fingerprinted_by_name():
    assert meta.fingerprint("camembert-base") == meta.fingerprint("camembert-base") != meta.fingerprint("roberta-base")


def test_versions_and_git():
    found = meta.versions()
    assert {"python", "torch", "transformers", "medforge"} <= set(found)
    info = meta.git_commit()
    assert info is None or (len(info["commit"]) == 40 and isinstance(info["dirty"], bool))
