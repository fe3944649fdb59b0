"""Skip/rerun logic of the pipeline, with the real stage configs and stand-in stage functions."""

from __future__ import annotations

import json

import pytest

from medforge import pipeline
from medforge.config import apply_overrides, from_dict
from medforge.errors import MedforgeError


@pytest.fixture
def calls(monkeypatch):
    seen: list[str] = []

    def fake(name):
        def run(cfg, ctx):
            seen.append(name)
            for upstream in pipeline.STAGE_BY_NAME[name].needs:
                assert (ctx.need(upstream) / pipeline.MARKER).is_file()
            (ctx.out / "output.txt").write_text(name)
            return {"ok": name}
        return run

    monkeypatch.setattr(pipeline, "_load_entry", lambda entry: fake(
        next(s.name for s in pipeline.STAGES if s.entry == entry)))
    return seen


def make_cfg(tmp_path, *overrides):
    corpus = tmp_path / "corpus.txt"
    if not corpus.exists():
        corpus.write_text("one document\n")
    raw = {"run_dir": str(tmp_path / "run"), "prepare": {"inputs": [str(corpus)]}}
    return from_dict(pipeline.PipelineConfig, apply_overrides(raw, list(overrides)))


ALL = ["prepare", "tokenizer", "pretrain", "evaluate", "export"]


def test_first_run_writes_every_stage_folder(tmp_path, calls):
    status = pipeline.run(make_cfg(tmp_path))
    assert calls == ALL and set(status.values()) == {"ran"}
    for stage in pipeline.STAGES:
        out = tmp_path / "run" / stage.dirname
        assert (out / "config.yaml").is_file() and (out / pipeline.MARKER).is_file()
        info = json.loads((out / "meta.json").read_text())
        assert info["seed"] == 42 and info["versions"]["torch"] and info["wall_time_s"] >= 0
        assert "git" in info and info["summary"] == {"ok": stage.name}
    prepare_meta = json.loads((tmp_path / "run" / "prepare" / "meta.json").read_text())
    assert list(prepare_meta["input_fingerprints"]) == [str(tmp_path / "corpus.txt")]


def test_second_run_skips_everything(tmp_path, calls):
    pipeline.run(make_cfg(tmp_path))
    calls.clear()
    status = pipeline.run(make_cfg(tmp_path))
    assert calls == [] and set(status.values()) == {"skipped"}


def test_changed_stage_config_reruns_it_and_what_follows(tmp_path, calls):
    pipeline.run(make_cfg(tmp_path))
    calls.clear()
    pipeline.run(make_cfg(tmp_path, "evaluate.epochs=9"))
    assert calls == ["evaluate", "export"]
    calls.clear()
    pipeline.run(make_cfg(tmp_path, "evaluate.epochs=9", "tokenizer.vocab_size=999"))
    assert calls == ["tokenizer", "pretrain", "evaluate", "export"]


def test_changed_input_file_reruns_everything(tmp_path, calls):
    pipeline.run(make_cfg(tmp_path))
    calls.clear()
    (tmp_path / "corpus.txt").write_text("another document\n")
    pipeline.run(make_cfg(tmp_path))
    assert calls == ALL


def test_changed_seed_reruns_everything(tmp_path, calls):
    pipeline.run(make_cfg(tmp_path))
    calls.clear()
    pipeline.run(make_cfg(tmp_path, "seed=7"))
    assert calls == ALL


def test_forced_stage_makes_the_stages_after_it_stale(tmp_path, calls):
    pipeline.run(make_cfg(tmp_path))
    calls.clear()
    pipeline.run(make_cfg(tmp_path), only=["pretrain"], force=True)
    assert calls == ["pretrain"]
    calls.clear()
    pipeline.run(make_cfg(tmp_path))  # a new model must be evaluated and exported again
    assert calls == ["evaluate", "export"]


def test_interrupted_stage_is_rerun_with_what_follows(tmp_path, calls):
    pipeline.run(make_cfg(tmp_path))
    (tmp_path / "run" / "tokenizer" / pipeline.MARKER).unlink()  # as if killed before finishing
    (tmp_path / "run" / "tokenizer" / "partial.bin").write_text("half-written")
    calls.clear()
    pipeline.run(make_cfg(tmp_path))
    assert calls == ["tokenizer", "pretrain", "evaluate", "export"]
    assert not (tmp_path / "run" / "tokenizer" / "partial.bin").exists()  # stale content is cleared


@pytest.mark.parametrize("overrides, kept", [([], True), (["pretrain.resume=false"], False),
                                             (["pretrain.learning_rate=0.1"], False)])
def test_an_interrupted_resumable_stage_keeps_its_folder_only_for_the_same_config(tmp_path, calls, overrides,
                                                                                   kept):
    pipeline.run(make_cfg(tmp_path, *overrides))
    (tmp_path / "run" / "pretrain" / pipeline.MARKER).unlink()
    (tmp_path / "run" / "pretrain" / "checkpoint-5").mkdir()
    pipeline.run(make_cfg(tmp_path, *overrides[:1] if overrides and "resume" in overrides[0] else []))
    assert (tmp_path / "run" / "pretrain" / "checkpoint-5").exists() == kept


def test_single_stage_needs_its_upstream(tmp_path, calls):
    with pytest.raises(MedforgeError, match="stage 'prepare' has not completed"):
        pipeline.run(make_cfg(tmp_path), only=["tokenizer"])


def test_unknown_stage_name(tmp_path, calls):
    with pytest.raises(MedforgeError, match="unknown stage"):
        pipeline.run(make_cfg(tmp_path), only=["pretrian"])


def test_foreign_files_in_a_stage_folder_are_never_deleted(tmp_path, calls):
    (tmp_path / "run" / "prepare").mkdir(parents=True)
    (tmp_path / "run" / "prepare" / "precious.txt").write_text("mine")
    with pytest.raises(MedforgeError, match="did not write"):
        pipeline.run(make_cfg(tmp_path))
    assert (tmp_path / "run" / "prepare" / "precious.txt").read_text() == "mine"
