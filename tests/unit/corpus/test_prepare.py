from __future__ import annotations

import gzip
import json
import random

import pyarrow.parquet as pq
import pytest

from medforge.corpus import stage as prepare
from medforge.corpus.config import PrepareConfig, SourceConfig
from medforge.corpus.stage import run
from medforge.corpus.store import split_files
from medforge.errors import InputError
from medforge.stage import StageContext

WORDS = ("patient fièvre toux dyspnée radiographie traitement amoxicilline évolution douleur thoracique abdomen "
         "nausée vomissement céphalée examen biologie créatinine hémoglobine scanner opacité").split()


def corpus(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(40)) + f" dossier {i}." for i in range(n)]


def ctx_for(tmp_path, name="out", seed=0):
    out = tmp_path / name
    out.mkdir(exist_ok=True)
    return StageContext(run_dir=tmp_path, out=out, seed=seed, upstream={})


def rows(folder, split="train") -> list[dict]:
    return [r for p in split_files(folder, split) for r in pq.read_table(p).to_pylist()]


def report(folder) -> dict:
    return json.loads((folder / "corpus_report.json").read_text())


def test_every_document_is_kept_or_counted_by_reason_and_source(tmp_path):
    docs = corpus(60)
    a = docs[:40] + ["", "  ", docs[3], "court"]  # empty, blank, exact duplicate, too short
    (tmp_path / "a.txt").write_text("\n".join(a) + "\n", encoding="utf-8")
    near = docs[10].replace("dossier 10", "dossier 10 bis")  # across sources
    (tmp_path / "b.jsonl.gz").write_bytes(gzip.compress("".join(
        json.dumps({"text": t}) + "\n" for t in docs[40:] + [near, docs[0]]).encode()))
    cfg = PrepareConfig(sources=[SourceConfig(name="a", paths=[str(tmp_path / "a.txt")]),
                                 SourceConfig(name="b", paths=[str(tmp_path / "b.jsonl.gz")])],
                        min_chars=20, validation_fraction=0.2, test_fraction=0.1)
    run(cfg, ctx_for(tmp_path))
    r = report(tmp_path / "out")
    sa, sb = r["sources"]["a"], r["sources"]["b"]
    assert sa["read"] == 44 and sa["dropped"] == {"empty": 2, "exact_duplicate": 1, "too_short_chars": 1}
    assert sb["read"] == 22 and sb["dropped"] == {"near_duplicate": 1, "exact_duplicate": 1}
    for s in (sa, sb):
        assert s["read"] == s["kept_train"] + s["kept_validation"] + s["kept_test"] + sum(s["dropped"].values())
    assert r["duplicates"]["exact"] == 2 and r["duplicates"]["near"] == 1
    texts = {split: [x["text"] for x in rows(tmp_path / "out", split)] for split in ("train", "validation", "test")}
    assert sum(map(len, texts.values())) == 60 and all(texts.values())
    assert len({t for ts in texts.values() for t in ts}) == 60  # no document in two splits
    md = (tmp_path / "out" / "corpus_report.md").read_text()
    assert "| a | 44 |" in md and "## Training data" in md and "near" in md


def test_planted_near_duplicates_never_cross_splits_and_distinct_texts_survive(tmp_path):
    docs = corpus(200, seed=1)
    noisy = [d.replace("patient", "malade", 1) for d in docs[:50]]  # near copies
    (tmp_path / "c.txt").write_text("\n".join(docs + noisy) + "\n", encoding="utf-8")
    run(PrepareConfig(inputs=[str(tmp_path / "c.txt")], validation_fraction=0.3), ctx_for(tmp_path))
    kept = {x["text"] for split in ("train", "validation") for x in rows(tmp_path / "out", split)}
    assert kept == set(docs)  # every near copy removed, every distinct document kept


def test_resume_after_an_interruption_writes_identical_shards(tmp_path, monkeypatch):
    (tmp_path / "d.txt").write_text("\n".join(corpus(250, seed=2) + corpus(30, seed=2)) + "\n", encoding="utf-8")
    cfg = PrepareConfig(inputs=[str(tmp_path / "d.txt")], shard_docs=60)
    run(cfg, ctx_for(tmp_path, "whole"))
    real, calls = prepare._decide, []

    def dies_in_shard_three(*args):
        calls.append(1)
        if len(calls) == 150:
            raise KeyboardInterrupt
        return real(*args)

    monkeypatch.setattr(prepare, "_decide", dies_in_shard_three)
    with pytest.raises(KeyboardInterrupt):
        run(cfg, ctx_for(tmp_path, "cut"))
    monkeypatch.setattr(prepare, "_decide", lambda *a: (calls.append(1), real(*a))[1])
    calls.clear()
    run(cfg, ctx_for(tmp_path, "cut"))
    assert len(calls) == 280 - 120  # two finished shards were not redone
    whole, cut = tmp_path / "whole" / "shards", tmp_path / "cut" / "shards"
    names = sorted(p.name for p in whole.glob("*.parquet"))
    assert names == sorted(p.name for p in cut.glob("*.parquet")) and len(names) >= 5
    for name in names:
        assert pq.read_table(whole / name).equals(pq.read_table(cut / name)), name
    assert report(tmp_path / "whole")["totals"] == report(tmp_path / "cut")["totals"]


def test_split_is_stable_when_documents_are_added_or_reordered(tmp_path):
    docs = corpus(300, seed=3)
    (tmp_path / "one.txt").write_text("\n".join(docs) + "\n", encoding="utf-8")
    (tmp_path / "two.txt").write_text("\n".join(corpus(100, seed=4) + docs[::-1]) + "\n", encoding="utf-8")
    for name in ("one", "two"):
        run(PrepareConfig(inputs=[str(tmp_path / f"{name}.txt")]), ctx_for(tmp_path, name))
    first = {x["text"] for x in rows(tmp_path / "one", "validation")}
    second = {x["text"] for x in rows(tmp_path / "two", "validation")}
    assert first and first == second & set(docs)


def test_sampling_weights_and_workers(tmp_path):
    (tmp_path / "small.txt").write_text("\n".join(corpus(100, seed=5)) + "\n", encoding="utf-8")
    (tmp_path / "big.txt").write_text("\n".join(corpus(400, seed=6)) + "\n", encoding="utf-8")
    sources = [SourceConfig(name="small", paths=[str(tmp_path / "small.txt")], weight=3.0),
               SourceConfig(name="big", paths=[str(tmp_path / "big.txt")], weight=0.5)]
    run(PrepareConfig(sources=sources, validation_fraction=0.0), ctx_for(tmp_path, "one"))
    r = report(tmp_path / "one")["sources"]
    assert r["small"]["train_rows"] == 300 and r["small"]["kept_train"] == 100
    assert 160 < r["big"]["kept_train"] < 240 and r["big"]["dropped"]["sampled_out"] == 400 - r["big"]["kept_train"]
    run(PrepareConfig(sources=sources, validation_fraction=0.0, workers=2, shard_docs=128), ctx_for(tmp_path, "two"))
    assert [x["text"] for x in rows(tmp_path / "one")] == [x["text"] for x in rows(tmp_path / "two")]


def test_personal_data_policies_and_the_gate(tmp_path):
    docs = corpus(20, seed=7)
    docs[3] += " Contact : jeanne.martin@chu-lyon.fr ou 06 12 34 56 78."
    (tmp_path / "p.txt").write_text("\n".join(docs) + "\n", encoding="utf-8")
    cfg = PrepareConfig(inputs=[str(tmp_path / "p.txt")], validation_fraction=0.0)
    with pytest.raises(InputError, match=r"personal data gate: 1 of 20 kept documents.*EMAIL 1, PHONE 1"):
        run(cfg, ctx_for(tmp_path, "report"))
    md = (tmp_path / "report" / "corpus_report.md").read_text()
    assert "jeanne.martin" not in md and "<EMAIL>" in md  # masked examples only
    cfg.pii_policy = "redact"
    run(cfg, ctx_for(tmp_path, "redact"))
    assert any("<EMAIL> ou <PHONE>." in x["text"] for x in rows(tmp_path / "redact"))
    cfg.pii_policy = "drop"
    run(cfg, ctx_for(tmp_path, "drop"))
    assert report(tmp_path / "drop")["sources"][str(tmp_path / "p.txt")]["dropped"] == {"pii": 1}
    cfg.pii_policy, cfg.pii_allow = "report", True
    run(cfg, ctx_for(tmp_path, "allowed"))


def test_filters_language_and_repetition(tmp_path):
    english = "The patient was admitted with fever and cough, and treated with antibiotics for a week."
    french = "Le patient a été admis pour une fièvre et une toux, puis traité par antibiotiques."
    spam = "buy now " * 40
    header = "CHU de Nowhere - page 1\n" + french + "\nCHU de Nowhere - page 1\n" + english
    (tmp_path / "f.txt").write_text("\n\n".join([english, french, spam, header]) + "\n", encoding="utf-8")
    cfg = PrepareConfig(sources=[SourceConfig(name="f", paths=[str(tmp_path / "f.txt")], paragraphs=True)],
                        languages=["fr"], max_repeated_ngram_fraction=0.3, validation_fraction=0.0)
    run(cfg, ctx_for(tmp_path))
    r = report(tmp_path / "out")["sources"]["f"]
    assert r["dropped"] == {"language": 2, "repetitive": 1} and r["repaired"] == {"repeated_lines_removed": 1}
    assert r["languages"]["fr"] == 1


def test_a_datasets_folder_is_read_like_a_hub_data_set(tmp_path):
    from datasets import Dataset

    folder = tmp_path / "hub"
    folder.mkdir()
    Dataset.from_dict({"id": [1, 2, 3], "body": corpus(3, seed=8)}).to_parquet(str(folder / "train.parquet"))
    cfg = PrepareConfig(sources=[SourceConfig(name="hub", hub_dataset=str(folder), text_column="body")],
                        validation_fraction=0.0)
    assert str(folder) in cfg.input_paths()
    run(cfg, ctx_for(tmp_path))
    assert [x["text"] for x in rows(tmp_path / "out")] == corpus(3, seed=8)
    assert report(tmp_path / "out")["sources"]["hub"]["read"] == 3
    cfg.sources[0].text_column = "text"
    with pytest.raises(InputError, match=r"no column 'text' \(columns: \['body', 'id'\]\)"):
        run(cfg, ctx_for(tmp_path, "bad"))


def test_empty_corpus_and_missing_inputs_are_clear_errors(tmp_path):
    (tmp_path / "blank.txt").write_text("\n   \n\n")
    with pytest.raises(InputError, match=r"empty corpus.*3 read, dropped: \{'empty': 3\}"):
        run(PrepareConfig(inputs=[str(tmp_path / "blank.txt")]), ctx_for(tmp_path))
    with pytest.raises(InputError, match=r"missing\.txt: corpus file not found"):
        run(PrepareConfig(inputs=[str(tmp_path / "missing.txt")]), ctx_for(tmp_path, "fresh"))
    assert not list((tmp_path / "fresh").iterdir())


@pytest.mark.parametrize("torn", ["", "{\"index\": 2, \"documents_re"])
def test_a_torn_or_empty_shard_marker_is_an_unfinished_shard(tmp_path, torn):
    """A crash while a marker was written left it empty or cut: every rerun crashed with a traceback."""
    (tmp_path / "d.txt").write_text("\n".join(corpus(250, seed=3)) + "\n", encoding="utf-8")
    cfg = PrepareConfig(inputs=[str(tmp_path / "d.txt")], shard_docs=60)
    run(cfg, ctx_for(tmp_path, "whole"))
    run(cfg, ctx_for(tmp_path, "torn"))
    shards = tmp_path / "torn" / "shards"
    (shards / "shard-00002.json").write_text(torn)
    run(cfg, ctx_for(tmp_path, "torn"))  # resumes after shard 1 and rewrites the rest
    for name in sorted(p.name for p in (tmp_path / "whole" / "shards").glob("*.parquet")):
        assert pq.read_table(tmp_path / "whole" / "shards" / name).equals(pq.read_table(shards / name)), name
    assert json.loads((shards / "shard-00002.json").read_text())["index"] == 2


def test_unsupported_files_in_an_input_folder_are_listed(tmp_path):
    folder = tmp_path / "corpus"
    folder.mkdir()
    (folder / "a.txt").write_text("\n".join(corpus(20, seed=4)) + "\n", encoding="utf-8")
    (folder / "notes.md").write_text("# not a corpus file\n")
    (folder / "meta.json").write_text("{}\n")
    run(PrepareConfig(inputs=[str(folder)]), ctx_for(tmp_path))
    skipped = json.loads((tmp_path / "out" / "corpus_report.json").read_text())
    text = json.dumps(skipped)
    assert "notes.md" in text and "meta.json" in text and "unsupported file type" in text


def test_two_workers_give_the_same_report_as_one_with_duplicates_holding_personal_data(tmp_path):
    """Shards were identical but the PII and language counts differed: one process skipped screening exact
    duplicates (it knows the kept keys), workers screened them and counted what they found."""
    docs = corpus(120, seed=8)
    docs[5] += " Écrire à jeanne.martin@chu-lyon.fr pour le suivi."
    docs += [docs[5]] * 3 + docs[:40]  # exact duplicates, one with an e-mail address
    (tmp_path / "d.txt").write_text("\n".join(docs) + "\n", encoding="utf-8")
    for workers in (1, 2):
        run(PrepareConfig(inputs=[str(tmp_path / "d.txt")], workers=workers, pii_allow=True, shard_docs=50),
            ctx_for(tmp_path, f"w{workers}"))
    one, two = report(tmp_path / "w1"), report(tmp_path / "w2")
    assert one["sources"] == two["sources"] and one["totals"] == two["totals"]
    assert one["totals"]["dropped"]["exact_duplicate"] == 43


def test_redaction_does_not_leave_identical_rows(tmp_path):
    """Two documents differing only by an e-mail address become the same text once it is redacted."""
    base = corpus(30, seed=9)
    docs = base + [base[0] + " Contact : a.b@chu.fr.", base[0] + " Contact : c.d@chu.fr."]
    (tmp_path / "d.txt").write_text("\n".join(docs) + "\n", encoding="utf-8")
    run(PrepareConfig(inputs=[str(tmp_path / "d.txt")], pii_policy="redact", validation_fraction=0.0,
                      dedup_near=False), ctx_for(tmp_path))
    texts = [x["text"] for x in rows(tmp_path / "out")]
    assert len(texts) == len(set(texts)) == 31
    assert report(tmp_path / "out")["totals"]["dropped"]["exact_duplicate"] == 1


def test_the_largest_duplicate_clusters_are_listed_biggest_first_then_by_first_appearance(tmp_path, monkeypatch):
    from medforge.corpus import report

    def entry(kept_index, removed, kind="near"):
        return json.dumps({"kept_index": kept_index, "kept": f"doc{kept_index}", "removed": removed, "kind": kind,
                           "similarity": 0.9}) + "\n"

    (tmp_path / "clusters-00000.jsonl").write_text(entry(4, "a") + entry(1, "b", "exact") + entry(4, "c"))
    (tmp_path / "clusters-00001.jsonl").write_text(entry(2, "d") + entry(2, "e") + entry(1, "f") + entry(9, "g"))
    monkeypatch.setattr(report, "CLUSTERS_LISTED", 3)
    kinds, largest = report._clusters(tmp_path)
    assert kinds == {"near": 6, "exact": 1}
    assert [(g["kept"], [r["document"] for r in g["removed"]]) for g in largest] == [
        ("doc4", ["a", "c"]), ("doc1", ["b", "f"]), ("doc2", ["d", "e"])]
