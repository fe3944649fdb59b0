"""The task engine (per-file tasks, per-band tasks, decisions in the global order) writes what the
streaming engine writes: the same shards, clusters, markers and report, for any number of workers."""

from __future__ import annotations

import gzip
import json
import random

import numpy as np
import pyarrow.parquet as pq
import pytest

from medforge.corpus import engine, units
from medforge.corpus.config import PrepareConfig, SourceConfig
from medforge.corpus.stage import run
from medforge.errors import ConfigError
from medforge.stage import StageContext

WORDS = ("patient fièvre toux dyspnée radiographie traitement amoxicilline évolution douleur thoracique abdomen "
         "nausée vomissement céphalée examen biologie créatinine hémoglobine scanner opacité").split()


def families(n: int, seed: int) -> list[str]:
    """Documents with near copies at growing distances: chains where B repeats A and C repeats B, but C
    does not repeat A, so which one is kept depends on the order of decisions."""
    rng = random.Random(seed)
    docs = []
    for f in range(n):
        words = [rng.choice(WORDS) for _ in range(60)] + [f"dossier{f}"]
        docs.append(" ".join(words))
        for _ in range(rng.randint(0, 4)):
            for _ in range(rng.randint(1, 3)):
                words[rng.randrange(60)] = rng.choice(WORDS)
            docs.append(" ".join(words))
    rng.shuffle(docs)
    return docs


def write_corpus(folder) -> list[SourceConfig]:
    """Five files in a folder (one gzipped JSONL) and one of them again as a second source."""
    folder.mkdir()
    docs = families(150, seed=1)
    docs[7] += " Écrire à jeanne.martin@chu-lyon.fr pour le suivi."
    docs[8] = docs[7].replace("jeanne.martin", "paul.durand")  # the same once redacted
    docs += docs[:30] + ["", "court", "The patient was discharged home after three days of observation."]
    for i in range(4):
        (folder / f"notes-{i}.txt").write_text("\n".join(docs[i::5]) + "\n", encoding="utf-8")
    (folder / "more.jsonl.gz").write_bytes(gzip.compress("".join(json.dumps({"text": t}) + "\n"
                                                                  for t in docs[4::5]).encode()))
    (folder / "notes.md").write_text("not a corpus file")
    return [SourceConfig(name="notes", paths=[str(folder)], weight=1.5),
            SourceConfig(name="again", paths=[str(folder / "notes-0.txt")])]


def prepared(tmp_path, name: str, **settings) -> dict:
    if not (tmp_path / "in").exists():
        write_corpus(tmp_path / "in")
    out = tmp_path / name
    out.mkdir()
    cfg = PrepareConfig(sources=[SourceConfig(name="notes", paths=[str(tmp_path / "in")], weight=1.5),
                                 SourceConfig(name="again", paths=[str(tmp_path / "in" / "notes-0.txt")])],
                        pii_policy="redact", min_chars=20, validation_fraction=0.2, test_fraction=0.1,
                        shard_docs=70, languages=["fr"], **settings)
    run(cfg, StageContext(run_dir=tmp_path / f"{name}-run", out=out, seed=3, upstream={}))
    return outputs(out)


def outputs(out) -> dict:
    """Everything the stage wrote but the dedup state (zip files with times in them)."""
    found = {}
    for path in sorted((out / "shards").iterdir()):
        if path.suffix == ".parquet":
            found[path.name] = pq.read_table(path)
        elif path.suffix in (".json", ".jsonl"):
            found[path.name] = path.read_text(encoding="utf-8")
    report = json.loads((out / "corpus_report.json").read_text(encoding="utf-8"))
    found["report"] = {k: report[k] for k in ("sources", "totals", "duplicates", "splits")}
    return found


def test_the_task_engine_writes_what_the_streaming_engine_writes(tmp_path):
    stream = prepared(tmp_path, "stream")
    tasks = prepared(tmp_path, "tasks", engine="tasks")
    two = prepared(tmp_path, "two", engine="tasks", workers=2)
    report = stream["report"]
    assert report["totals"]["dropped"]["near_duplicate"] > 50 and report["totals"]["dropped"]["exact_duplicate"] > 30
    assert len([k for k in stream if k.startswith("shard-")]) >= 5
    assert tasks.keys() == stream.keys()
    for name in stream:
        assert tasks[name] == stream[name], name
    assert two == stream
    assert not (tmp_path / "tasks-run" / engine.WORK).exists()  # removed once the stage completed


def test_a_chain_of_near_copies_is_decided_in_order(tmp_path):
    """A, B (near A), C (near B, not A): the first is kept, B dropped, C kept, as the streaming engine does."""
    rng = random.Random(0)
    a = [rng.choice(WORDS) + str(rng.randrange(99)) for _ in range(200)]
    b = list(a)
    b[100:130] = ["x" + w for w in a[100:130]]
    c = list(b)
    c[0:30] = ["x" + w for w in a[0:30]]  # estimated similarities: a-b 0.82, b-c 0.79, a-c 0.63
    (tmp_path / "c.txt").write_text("\n".join(" ".join(d) for d in (a, b, c)) + "\n", encoding="utf-8")
    for name, settings in (("s", {}), ("t", {"engine": "tasks"})):
        (tmp_path / name).mkdir()
        run(PrepareConfig(inputs=[str(tmp_path / "c.txt")], validation_fraction=0, near_threshold=0.75, **settings),
            StageContext(run_dir=tmp_path, out=tmp_path / name, seed=0, upstream={}))
    kept = {name: [r["position"] for r in pq.read_table(tmp_path / name / "shards" / "train-00000.parquet").to_pylist()]
            for name in ("s", "t")}
    assert kept["s"] == kept["t"] == [1, 3]


def test_finished_files_are_reused_and_a_changed_file_is_redone(tmp_path):
    sources = write_corpus(tmp_path / "in")
    cfg = PrepareConfig(sources=sources, engine="tasks")
    work = engine.work_folder(tmp_path)
    todo = engine.plan(sources)
    first = units.process_unit(cfg, todo[1], str(work))
    assert units.process_unit(cfg, todo[1], str(work)) == first
    (tmp_path / "in" / "notes-0.txt").write_text("Un autre texte, assez long pour rester.\n", encoding="utf-8")
    assert units.done(work, todo[1], todo[1].fingerprint(cfg)) is None
    assert units.process_unit(cfg, todo[1], str(work))["documents"] == 1


def test_parts_run_a_share_of_the_files_each_then_the_final_step_reuses_them(tmp_path):
    sources = write_corpus(tmp_path / "in")
    cfg = PrepareConfig(sources=sources, engine="tasks", pii_policy="redact")
    done = [engine.run_part(cfg, str(tmp_path), part, 3)["files"] for part in range(3)]
    assert sum(done) == len(engine.plan(sources)) == 6
    with pytest.raises(ConfigError, match="0..2"):
        engine.run_part(cfg, str(tmp_path), 3, 3)


def test_hub_sources_and_a_missing_ray_are_clear_errors(tmp_path, monkeypatch):
    with pytest.raises(ConfigError, match="reads files"):
        engine.plan([SourceConfig(name="hub", hub_dataset="some/corpus")])
    import builtins

    real = builtins.__import__

    def no_ray(name, *args, **kwargs):
        if name == "ray":
            raise ImportError(name)
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_ray)
    from medforge import executors

    with pytest.raises(ConfigError, match=r"medforge\[ray\]"):
        executors.make(1, "127.0.0.1:6379")


def test_slurm_array_tasks_then_the_last_job_equal_one_process(tmp_path):
    """configs/slurm/prepare.sbatch run as SLURM would: three array tasks at once, separate processes, then
    the job without an array; the last one reuses every file and writes what one process writes."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    import yaml

    root = Path(__file__).resolve().parents[3]
    stream = prepared(tmp_path, "stream")
    config = tmp_path / "pipeline.yaml"
    config.write_text(yaml.safe_dump({"run_dir": str(tmp_path / "run"), "seed": 3, "prepare": {
        "sources": [{"name": "notes", "paths": [str(tmp_path / "in")], "weight": 1.5},
                    {"name": "again", "paths": [str(tmp_path / "in" / "notes-0.txt")]}],
        "pii_policy": "redact", "min_chars": 20, "validation_fraction": 0.2, "test_fraction": 0.1, "shard_docs": 70,
        "languages": ["fr"]}}))
    env = {**os.environ, "MEDFORGE_BIN": str(Path(sys.executable).parent / "medforge"), "SLURM_CPUS_PER_TASK": "1"}
    script = [root / "configs" / "slurm" / "prepare.sbatch", config]
    tasks = [subprocess.Popen(["bash", *script], env={**env, "SLURM_ARRAY_TASK_ID": str(i),
                                                      "SLURM_ARRAY_TASK_COUNT": "3"}, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True) for i in range(3)]
    logs = [t.communicate(timeout=300)[0] for t in tasks]
    assert [t.returncode for t in tasks] == [0, 0, 0], logs
    assert sum(int(log.split(": ")[1].split(" files")[0]) for log in logs) == 6
    last = subprocess.run(["bash", *script], env=env, capture_output=True, text=True, timeout=300)
    assert last.returncode == 0, last.stderr[-3000:]
    summary = json.loads((tmp_path / "run" / "prepare" / "meta.json").read_text())["summary"]
    assert summary["engine"]["files_reused"] == 6
    assert outputs(tmp_path / "run" / "prepare") == stream


def test_a_bucket_of_many_near_copies_is_decided_as_the_streaming_engine_does(tmp_path):
    """150 near copies share their buckets: each is compared with the kept documents of its buckets, not with
    every other copy (the band tasks once verified all 11,175 pairs, in each band the copies shared)."""
    rng = random.Random(4)
    base = [rng.choice(WORDS) for _ in range(60)]
    docs = []
    for i in range(150):
        words = list(base)
        for _ in range(rng.randint(0, 6)):
            words[rng.randrange(60)] = rng.choice(WORDS)
        docs.append(" ".join(words) + f" copie{i}")
    (tmp_path / "c.txt").write_text("\n".join(docs) + "\n", encoding="utf-8")
    found = {}
    for name, settings in (("s", {}), ("t", {"engine": "tasks"})):
        (tmp_path / name).mkdir()
        summary = run(PrepareConfig(inputs=[str(tmp_path / "c.txt")], validation_fraction=0, **settings),
                      StageContext(run_dir=tmp_path, out=tmp_path / name, seed=0, upstream={}))
        found[name] = outputs(tmp_path / name)
    assert found["s"] == found["t"] and found["s"]["report"]["totals"]["dropped"]["near_duplicate"] > 100
    kept = found["s"]["report"]["totals"]["kept"]
    compared = summary["engine"]["near_compared"]  # each copy against at most the kept ones
    assert 150 - kept <= compared <= 150 * kept and compared < 150 * 149 / 2 / 10


def test_a_ray_address_nobody_answers_at_is_a_clear_error_not_a_hang(tmp_path):
    pytest.importorskip("ray")
    import socket

    from medforge import executors

    with socket.socket() as s:  # a port that was free a moment ago: nothing listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(ConfigError, match=rf"nothing answers at 127.0.0.1:{port}.*ray start --head"):
        executors.make(1, f"127.0.0.1:{port}")


def test_shard_tasks_run_again_after_a_crash_neither_double_nor_lose_a_document(tmp_path, monkeypatch):
    """Every shard task first dies half-way (a torn temporary file left behind), then runs twice more, as a
    retried Ray task may: the shards equal the streaming engine's and no temporary file is left."""
    from medforge import executors
    from medforge.corpus import placing

    stream = prepared(tmp_path, "stream")
    runs = []

    class Retrying(executors.Local):
        def map(self, fn, calls):
            if fn is not placing.write_shard:
                return super().map(fn, calls)
            out = []
            for call in calls:
                _, _, _, folder, index, _ = call
                (tmp_path / "tasks" / "shards").mkdir(parents=True, exist_ok=True)
                (tmp_path / "tasks" / "shards" / f".train-{index:05d}.parquet.99999.tmp").write_bytes(b"PAR1torn")
                runs.append(index)
                fn(*call)
                out.append(fn(*call))
            return out

    monkeypatch.setattr(executors, "make", lambda workers, ray, **kw: Retrying(workers))
    tasks = prepared(tmp_path, "tasks", engine="tasks")
    assert tasks == stream
    assert len(runs) > 3 and runs == sorted(runs)  # one task per shard
    assert not list((tmp_path / "tasks" / "shards").glob(".*"))


def test_band_buckets_number_shared_buckets_and_mark_lone_documents(tmp_path, monkeypatch):
    from medforge.corpus import bands, units

    rows = 2
    x, y, z = [1, 2], [1, 3], [9, 9]
    unit_sigs = {0: [x + z, y + z, [0, 0, 0, 0], x + y], 1: [y + x, z + x, x + z]}  # band 0: columns 0-1
    has = {0: [True, True, False, True], 1: [True, True, True]}
    monkeypatch.setattr(units, "signatures", lambda work, index: np.array(unit_sigs[index], dtype=np.uint32))
    monkeypatch.setattr(units, "has_signature", lambda work, index: np.array(has[index]))
    sizes = [(0, 4), (1, 3)]
    first = np.load(bands.band_buckets(str(tmp_path), sizes, 0, rows)).tolist()
    # x: documents 0, 3, 6; y: 1, 4; z (document 5) alone; document 2 has no signature
    assert first[2] == first[5] == -1
    assert first[0] == first[3] == first[6] != first[1] == first[4] and {first[0], first[1]} == {0, 1}
    second = np.load(bands.band_buckets(str(tmp_path), sizes, 1, rows)).tolist()  # z: 0, 1, 6; x: 4, 5; y: 3
    assert second[0] == second[1] == second[6] != second[4] == second[5] and second[2] == second[3] == -1
    assert not list(tmp_path.glob(".*"))  # written through a temporary file
