"""Corpus preparation and packing past one process: MB/s with 1 and 2 local workers (streaming and task
engines), on a two-node Ray cluster started here, and tokenize-and-pack MB/s, against a plain read loop
in the same run; peak memory per process; the task engine's memory at 1x and 5x the input.

    .venv/bin/python bench/prepare_scale.py [--mb 20] [--no-ray]

Input: ../shared/data/text (fr, en, ja), replicated with marked copies up to --mb and written as 8
files (the task engine's unit is a file). Every run is a fresh process; its peak RSS (VmHWM: its own
peak since exec; ru_maxrss would carry this script's peak over, as the kernel keeps it across a vfork
and exec) and the largest of its descendants' (the worker processes, read from /proc every 0.1 s while it
runs; Ray workers are not descendants of the driver: not measured).
Every run's corpus report must equal the one-process run's, or the bench stops.

CPU seconds of the driver and of its descendants (the workers and their fork server) give each 2-worker
run's best possible ratio to its engine's one process on this machine: the wall time can be below
neither the driver's CPU time (its Python runs one thread at a time) nor all the CPU time divided by the
cores.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import real_lines, replicate  # noqa: E402

FILES = 8
_PREPARE = r"""
import json, sys, time
from pathlib import Path
from medforge.corpus.config import PrepareConfig
from medforge.corpus.stage import run
from medforge.stage import StageContext
out = Path(sys.argv[2]); out.mkdir(parents=True, exist_ok=True)
cfg = PrepareConfig(**json.loads(sys.argv[3]), inputs=[sys.argv[1]], pii_allow=True, shard_docs=1000)
t, cpu = time.perf_counter(), time.process_time()
summary = run(cfg, StageContext(run_dir=out.parent, out=out, seed=0, upstream={}))
print(json.dumps({"seconds": time.perf_counter() - t, "totals": summary["totals"], "engine": summary.get("engine"),
                  "cpu": time.process_time() - cpu,
                  "peak_mb": int(next(x for x in open("/proc/self/status")
                                      if x.startswith("VmHWM")).split()[1]) / 1024}))
"""
_PACK = r"""
import json, sys, time
from pathlib import Path
from transformers import AutoTokenizer
from medforge.corpus.store import split_files
from medforge.data.pack import build_packed
corpus, tok, out, workers = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3]), int(sys.argv[4])
tokenizer = AutoTokenizer.from_pretrained(tok)
t = time.perf_counter()
_, stats = build_packed(corpus, "train", tokenizer, 512, out, workers=workers)
print(json.dumps({"seconds": time.perf_counter() - t, "tokens": stats["document_tokens"],
                  "peak_mb": int(next(x for x in open("/proc/self/status")
                                      if x.startswith("VmHWM")).split()[1]) / 1024}))
"""
_TOKENIZE_ONLY = r"""
import json, sys, time
from pathlib import Path
from transformers import AutoTokenizer
from medforge.corpus.store import iter_texts
tokenizer = AutoTokenizer.from_pretrained(sys.argv[2])
batches = list(iter_texts(Path(sys.argv[1]), "train", batch_size=256))
t = time.perf_counter()
for texts in batches:  # the call packing makes, without anything around it
    tokenizer(texts, add_special_tokens=False, split_special_tokens=True, verbose=False)
print(json.dumps({"seconds": time.perf_counter() - t}))
"""
BIN = Path(sys.executable).parent
RAY_ENV = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}


def _descendants(root: int) -> list[int]:
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
    found, frontier = [], [root]
    while frontier:
        frontier = [pid for pid, parent in parents.items() if parent in frontier]
        found += frontier
    return found


def _cpu_seconds(pid: int) -> float:
    """The process's user + system time so far (fields 14 and 15 of /proc/PID/stat, in clock ticks)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return 0.0


def _peak_mb(pid: int) -> float:
    try:
        return int(next(x for x in open(f"/proc/{pid}/status") if x.startswith("VmHWM")).split()[1]) / 1024
    except (OSError, StopIteration):
        return 0.0


def child(code: str, *args: str, env: dict | None = None) -> dict:
    """The child's JSON result, with ``worker_peak_mb``: the largest peak of its descendant processes, and
    ``worker_cpu``: their CPU seconds, both read from /proc every 0.1 s while it runs (workers forked by a fork
    server are not its children, so RUSAGE_CHILDREN does not see them; a worker's last 0.1 s may be missed)."""
    proc = subprocess.Popen([sys.executable, "-c", code, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**RAY_ENV, **(env or {})})
    peaks: dict[int, float] = {}
    cpu: dict[int, float] = {}
    done = threading.Event()

    def watch() -> None:
        while not done.wait(0.1):
            for pid in _descendants(proc.pid):
                peaks[pid] = max(peaks.get(pid, 0.0), _peak_mb(pid))
                cpu[pid] = max(cpu.get(pid, 0.0), _cpu_seconds(pid))

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    out, err = proc.communicate()
    done.set()
    watcher.join()
    if proc.returncode:
        sys.exit(err[-3000:])
    result = json.loads(out.strip().splitlines()[-1])
    result["worker_peak_mb"] = max(peaks.values(), default=0.0)
    result["worker_cpu"] = sum(cpu.values())
    return result


def write_files(lines: list[str], folder: Path) -> float:
    folder.mkdir()
    for i in range(FILES):
        (folder / f"part-{i}.txt").write_text("\n".join(lines[i::FILES]) + "\n", encoding="utf-8")
    return sum(p.stat().st_size for p in folder.iterdir()) / 1e6


def plain_loop(folder: Path, out: Path) -> float:
    t = time.perf_counter()
    with out.open("w", encoding="utf-8") as dst:
        for path in sorted(folder.iterdir()):
            with path.open(encoding="utf-8") as src:
                for line in src:
                    dst.write(line)
    return time.perf_counter() - t


class Cluster:
    """A head node and a second node on this machine, one CPU each."""

    def __enter__(self):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        self.address = f"127.0.0.1:{port}"
        self.temp = tempfile.mkdtemp(prefix="mfray")
        node = ["--num-cpus=1", "--disable-usage-stats"]
        subprocess.run([BIN / "ray", "start", "--head", f"--port={port}", "--include-dashboard=false",
                        f"--temp-dir={self.temp}", *node], env=RAY_ENV, check=True, capture_output=True)
        subprocess.run([BIN / "ray", "start", f"--address={self.address}", *node], env=RAY_ENV, check=True,
                       capture_output=True)
        time.sleep(3)
        return self

    def __exit__(self, *exc):
        subprocess.run([BIN / "ray", "stop", "--force"], env=RAY_ENV, capture_output=True)
        shutil.rmtree(self.temp, ignore_errors=True)


def tokenizer(corpus: Path, out: Path) -> str:
    from medforge.corpus.store import iter_texts
    from medforge.tokenizer.config import TokenizerConfig
    from medforge.tokenizer.train import train_tokenizer

    texts = [t for batch in iter_texts(corpus, "train") for t in batch][:20000]
    train_tokenizer(iter(texts), TokenizerConfig(algorithm="bpe", family="roberta", vocab_size=8000), out, 0, [])
    return str(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mb", type=float, default=20, help="input size in MB (default 20)")
    parser.add_argument("--no-ray", action="store_true", help="skip the Ray cluster run")
    args = parser.parse_args()
    lines = replicate(real_lines(("fr", "en", "ja")), args.mb)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        mb = write_files(lines, tmp / "in")
        baseline = plain_loop(tmp / "in", tmp / "copy.txt")
        runs = {}
        for name, settings in (("streaming, 1 process", {}), ("streaming, 2 workers", {"workers": 2}),
                               ("tasks, 1 process", {"engine": "tasks"}),
                               ("tasks, 2 local workers", {"engine": "tasks", "workers": 2})):
            runs[name] = child(_PREPARE, str(tmp / "in"), str(tmp / name.replace(" ", "_").replace(",", "")),
                               json.dumps(settings))
        if not args.no_ray:
            with Cluster() as cluster:
                runs["tasks, Ray: 2 nodes x 1 CPU"] = child(_PREPARE, str(tmp / "in"), str(tmp / "ray"),
                                                             json.dumps({"ray": cluster.address}))
        reference = runs["streaming, 1 process"]["totals"]
        for name, run in runs.items():
            if run["totals"] != reference:
                sys.exit(f"{name}: the corpus report differs from one process's: {run['totals']} != {reference}")
        big_lines = replicate(real_lines(("fr", "en", "ja")), args.mb * 5)
        write_files(big_lines, tmp / "in5")
        tenfold = child(_PREPARE, str(tmp / "in5"), str(tmp / "five"), json.dumps({"engine": "tasks"}))
        corpus = tmp / "streaming_1_process"
        tok = tokenizer(corpus, tmp / "tok")
        train_text_mb = sum(len(t.encode()) + 1 for t in _texts(corpus)) / 1e6
        # the tokenizer's own threads off: one worker is one core
        serial = {"TOKENIZERS_PARALLELISM": "false"}
        tokenize_only = child(_TOKENIZE_ONLY, str(corpus), tok, env=serial)
        packs = {w: child(_PACK, str(corpus), tok, str(tmp / f"pack{w}"), str(w), env=serial) for w in (1, 2)}

    print(f"input: {mb:.1f} MB in {FILES} files, {len(lines):,} documents of ../shared/data/text (fr, en, ja); "
          f"near dedup on; {os.cpu_count()} cores\n")
    print("| run | seconds | MB/s | MB/s per core | x plain loop | x 1 process | peak RSS MB (largest worker) "
          "| CPU s: driver + workers | x its engine's 1 process: measured / at best |")
    print("|---|---|---|---|---|---|---|---|---|")
    print(f"| plain read + write loop | {baseline:.2f} | {mb / baseline:.1f} | {mb / baseline:.1f} | 1.000 | | | | |")
    one = runs["streaming, 1 process"]["seconds"]
    for name, run in runs.items():
        cores = 2 if "2" in name else 1
        bound = ""
        if cores > 1 and "Ray" not in name:
            own = runs["tasks, 1 process" if name.startswith("tasks") else "streaming, 1 process"]["seconds"]
            # the driver's work is one thread's (the GIL), and all the work shares this machine's cores: the
            # wall time cannot be below either, however it is scheduled
            floor = max(run["cpu"], (run["cpu"] + run["worker_cpu"]) / (os.cpu_count() or 1))
            bound = f"{own / run['seconds']:.2f} / {own / floor:.2f}"
        print(f"| {name} | {run['seconds']:.2f} | {mb / run['seconds']:.1f} | {mb / run['seconds'] / cores:.1f} | "
              f"{baseline / run['seconds']:.3f} | {one / run['seconds']:.2f} | {run['peak_mb']:.0f} "
              f"({run['worker_peak_mb']:.0f}) | {run['cpu']:.2f} + {run['worker_cpu']:.2f} | {bound} |")
    for name, run in runs.items():
        if run.get("engine"):
            print(f"  {name}: " + ", ".join(f"{k} {v} s" for k, v in run["engine"]["seconds"].items()))
    print("\nevery run's corpus report equals the one-process run's "
          f"({reference['read']:,} read, {reference['kept']:,} kept)")
    task1 = runs["tasks, 1 process"]
    print(f"\ntask engine memory: {task1['peak_mb']:.0f} MB at 1x, {tenfold['peak_mb']:.0f} MB at 5x "
          f"({tenfold['totals']['read']:,} documents): {tenfold['peak_mb'] / task1['peak_mb']:.2f}x")
    print(f"\npacking (tokenize with an 8k BPE, pack to 512) of the train split ({train_text_mb:.1f} MB of text), "
          "the tokenizer's own threads off:")
    print("| run | seconds | MB/s | MB/s per core | x tokenizer alone | tokens/s | peak RSS MB (largest worker) |")
    print("|---|---|---|---|---|---|---|")
    alone = tokenize_only["seconds"]
    print(f"| the tokenizer's call alone, 1 core | {alone:.2f} | {train_text_mb / alone:.1f} | "
          f"{train_text_mb / alone:.1f} | 1.00 | | |")
    for w, run in packs.items():
        print(f"| packing, {w} worker{'s' if w > 1 else ''} | {run['seconds']:.2f} | "
              f"{train_text_mb / run['seconds']:.1f} | {train_text_mb / run['seconds'] / w:.1f} | "
              f"{alone / (run['seconds'] * w):.2f} | {run['tokens'] / run['seconds']:,.0f} | "
              f"{run['peak_mb']:.0f} ({run['worker_peak_mb']:.0f}) |")


def _texts(corpus: Path):
    from medforge.corpus.store import iter_texts

    for batch in iter_texts(corpus, "train"):
        yield from batch


if __name__ == "__main__":
    main()
