from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest

from medforge.corpus.config import PrepareConfig
from medforge.corpus.prepare import run
from medforge.errors import InputError
from medforge.pipeline import StageContext


def ctx_for(tmp_path, seed=0):
    out = tmp_path / "out"
    out.mkdir()
    return StageContext(run_dir=tmp_path, out=out, seed=seed, upstream={})


def test_every_document_is_kept_or_counted(tmp_path):
    (tmp_path / "a.txt").write_text("\n".join(["doc %d" % i if i % 5 else "  " for i in range(100)]) + "\n")
    (tmp_path / "b.jsonl").write_text('{"text": "json doc"}\n{"text": ""}\n')
    cfg = PrepareConfig(inputs=[str(tmp_path / "a.txt"), str(tmp_path / "b.jsonl")], validation_fraction=0.2)
    stats = run(cfg, ctx_for(tmp_path))
    a = stats["sources"][str(tmp_path / "a.txt")]
    assert a["read"] == 100 and a["dropped_empty"] == 20 and a["kept_train"] + a["kept_validation"] == 80
    assert stats["totals"]["read"] == 102 and stats["totals"]["dropped_empty"] == 21
    rows = {s: pq.read_table(tmp_path / "out" / f"{s}.parquet").to_pylist() for s in ("train", "validation")}
    assert len(rows["train"]) + len(rows["validation"]) == 81
    assert {r["text"] for r in rows["train"]}.isdisjoint(r["text"] for r in rows["validation"])
    assert rows["validation"] and all(r["source"] and r["line"] >= 1 for r in rows["train"])
    assert json.loads((tmp_path / "out" / "stats.json").read_text()) == stats


def test_empty_corpus_is_a_clear_error(tmp_path):
    (tmp_path / "blank.txt").write_text("\n   \n\n")
    with pytest.raises(InputError, match=r"empty corpus.*3 read, 3 empty"):
        run(PrepareConfig(inputs=[str(tmp_path / "blank.txt")]), ctx_for(tmp_path))


def test_missing_input_fails_before_writing(tmp_path):
    with pytest.raises(InputError, match=r"missing\.txt: corpus file not found"):
        run(PrepareConfig(inputs=[str(tmp_path / "missing.txt")]), ctx_for(tmp_path))
    assert not list((tmp_path / "out").iterdir())
