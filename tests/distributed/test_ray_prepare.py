"""``medforge prepare --ray`` on a real two-node Ray cluster on this machine (``ray start --head`` and a
second raylet started with ``ray start --address``): the output equals one process's, and it still does
when the second node is killed in the middle of the run."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import yaml

from medforge.corpus import engine
from medforge.corpus.config import PrepareConfig
from medforge.corpus.stage import run
from medforge.stage import StageContext

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit" / "corpus"))
from test_task_engine import families, outputs  # noqa: E402

pytest.importorskip("ray", reason="the 'ray' extra is not installed")
BIN = Path(sys.executable).parent
ENV = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "RAY_DEDUP_LOGS": "0"}
NODE = ["--num-cpus=1", "--object-store-memory=80000000", "--disable-usage-stats"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _alive_nodes(address: str) -> int:
    """How many nodes the head counts alive; -1 when it could not be asked. Ray prints its own warnings on
    stdout (a busy raylet's "lagging heartbeats"), before or after ours, so the count carries a tag."""
    out = subprocess.run([BIN / "python", "-c", f"import ray; ray.init(address='{address}', logging_level='ERROR'); "
                          "print('alive-nodes=%d' % sum(n['Alive'] for n in ray.nodes()))"], env=ENV,
                         capture_output=True, text=True, timeout=60)
    counts = re.findall(r"^alive-nodes=(\d+)$", out.stdout, flags=re.MULTILINE)
    return int(counts[-1]) if out.returncode == 0 and counts else -1


@pytest.fixture(scope="module")
def cluster():
    """(address, the second node's process): a head node and a worker node, one CPU each."""
    temp = tempfile.mkdtemp(prefix="mfray")  # short: Ray's socket paths must fit in 107 characters
    port = _free_port()
    address = f"127.0.0.1:{port}"
    subprocess.run([BIN / "ray", "start", "--head", f"--port={port}", "--include-dashboard=false",
                    f"--temp-dir={temp}", *NODE], env=ENV, check=True, capture_output=True, timeout=120)
    nodes = {"address": address, "worker": None}

    def add_worker():
        nodes["worker"] = subprocess.Popen([BIN / "ray", "start", f"--address={address}", "--block", *NODE], env=ENV,
                                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                           start_new_session=True)
        deadline = time.time() + 90
        while _alive_nodes(address) < 2:
            assert time.time() < deadline, "the second Ray node did not join"
            time.sleep(1)

    nodes["add_worker"] = add_worker
    add_worker()
    yield nodes
    if nodes["worker"] and nodes["worker"].poll() is None:
        os.killpg(nodes["worker"].pid, signal.SIGKILL)
    subprocess.run([BIN / "ray", "stop", "--force"], env=ENV, capture_output=True, timeout=120)
    shutil.rmtree(temp, ignore_errors=True)


def _corpus(folder: Path, files: int, docs: int) -> None:
    folder.mkdir()
    for i in range(files):
        (folder / f"part-{i:02d}.txt").write_text("\n".join(families(docs, seed=i % 7)) + "\n", encoding="utf-8")


def _streamed(tmp_path: Path, folder: Path) -> dict:
    out = tmp_path / "stream"
    out.mkdir()
    run(PrepareConfig(inputs=[str(folder)], shard_docs=200, validation_fraction=0.2),
        StageContext(run_dir=tmp_path, out=out, seed=0, upstream={}))
    return outputs(out)


def _pipeline_file(tmp_path: Path, folder: Path) -> Path:
    path = tmp_path / "pipeline.yaml"
    path.write_text(yaml.safe_dump({"run_dir": str(tmp_path / "run"), "seed": 0,
                                    "prepare": {"inputs": [str(folder)], "shard_docs": 200,
                                                "validation_fraction": 0.2}}))
    return path


def _prepare_cmd(config: Path, address: str) -> list:
    return [BIN / "medforge", "prepare", "--config", config, "--ray", address]


def test_prepare_on_a_two_node_ray_cluster_equals_one_process(tmp_path, cluster):
    _corpus(tmp_path / "in", files=6, docs=60)
    config = _pipeline_file(tmp_path, tmp_path / "in")
    done = subprocess.run(_prepare_cmd(config, cluster["address"]), env=ENV, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads((tmp_path / "run" / "prepare" / "meta.json").read_text())["summary"]
    assert summary["engine"]["nodes_used"] == 2 and "2 nodes" in summary["engine"]["where"]
    assert outputs(tmp_path / "run" / "prepare") == _streamed(tmp_path, tmp_path / "in")


def test_a_worker_node_killed_mid_run_loses_and_repeats_nothing(tmp_path, cluster):
    _corpus(tmp_path / "in", files=16, docs=250)
    config = _pipeline_file(tmp_path, tmp_path / "in")
    if cluster["worker"].poll() is not None:
        cluster["add_worker"]()
    job = subprocess.Popen(_prepare_cmd(config, cluster["address"]), env=ENV, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True)
    work = tmp_path / "run" / engine.WORK
    deadline = time.time() + 240
    while len(list(work.glob("unit-*.json"))) < 3:  # some files done, most not
        assert job.poll() is None and time.time() < deadline, "the run ended before the node could be killed"
        time.sleep(0.2)
    os.killpg(cluster["worker"].pid, signal.SIGKILL)  # the raylet and every worker process of the second node
    finished_before = len(list(work.glob("unit-*.json")))
    log, _ = job.communicate(timeout=400)
    assert job.returncode == 0, log[-3000:]
    assert finished_before < 16  # the node died with files still to do
    deadline = time.time() + 180  # Ray declares a node dead after its health checks time out
    while _alive_nodes(cluster["address"]) != 1:
        assert time.time() < deadline, "Ray still lists the killed node as alive"
        time.sleep(2)
    print(f"{finished_before} of 16 files done when the node was killed")
    assert len(list(work.glob("unit-*.json"))) == 0  # the work folder went once the stage completed
    assert outputs(tmp_path / "run" / "prepare") == _streamed(tmp_path, tmp_path / "in")


def test_tokenizing_for_packing_on_the_cluster_gives_the_same_sequences(tmp_path, cluster):
    from transformers import AutoTokenizer

    from medforge.data.pack import build_packed
    from medforge.tokenizer.config import TokenizerConfig
    from medforge.tokenizer.train import train_tokenizer

    _corpus(tmp_path / "in", files=3, docs=40)
    out = tmp_path / "corpus"
    out.mkdir()
    run(PrepareConfig(inputs=[str(tmp_path / "in")], shard_docs=50, dedup_near=False),
        StageContext(run_dir=tmp_path, out=out, seed=0, upstream={}))
    texts = [line for p in sorted((tmp_path / "in").iterdir()) for line in p.read_text().splitlines()]
    train_tokenizer(iter(texts), TokenizerConfig(algorithm="bpe", family="roberta", vocab_size=400), tmp_path / "tok",
                    0, [])
    tokenizer = AutoTokenizer.from_pretrained(tmp_path / "tok")
    for mode in ("pack", "sentence"):
        local, stats = build_packed(out, "train", tokenizer, 64, tmp_path / f"local-{mode}", mode)
        remote, ray_stats = build_packed(out, "train", tokenizer, 64, tmp_path / f"ray-{mode}", mode,
                                         ray=cluster["address"])
        assert len(list((out / "shards").glob("train-*.parquet"))) >= 3  # one task per shard file
        assert stats == ray_stats and local[:] == remote[:]
