"""A cluster of near copies (a template page crawled thousands of times) through both preparation engines:
seconds, the task engine's phases, peak memory and comparisons, for n and 4n copies. Linear work gives
about 4x from n to 4n; comparing every pair of a bucket gives 16x.

    .venv/bin/python bench/near_cluster.py [--copies 2000]

The copies are one real document of ../shared/data/text (fr) with 0-8 of its words replaced by words of
other documents, written as 4 files; every run is a fresh process; both engines must keep the same
documents, or the bench stops.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import real_lines  # noqa: E402
from prepare_scale import _PREPARE, child  # noqa: E402


def cluster(lines: list[str], copies: int, folder: Path) -> None:
    rng = random.Random(0)
    base = max(lines, key=lambda line: len(line.split()) if len(line) < 4000 else 0).split()
    vocabulary = [w for line in lines[:2000] for w in line.split()]
    docs = []
    for _ in range(copies):
        words = list(base)
        for _change in range(rng.randint(0, 8)):
            words[rng.randrange(len(words))] = rng.choice(vocabulary)
        docs.append(" ".join(words))
    folder.mkdir()
    for k in range(4):
        (folder / f"part-{k}.txt").write_text("\n".join(docs[k::4]) + "\n", encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--copies", type=int, default=2000, help="n: the smaller cluster (default 2000)")
    args = parser.parse_args()
    lines = real_lines(("fr",))
    runs = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for n in (args.copies, 4 * args.copies):
            cluster(lines, n, tmp / f"in{n}")
            for engine in ("streaming", "tasks"):
                runs[engine, n] = child(_PREPARE, str(tmp / f"in{n}"), str(tmp / f"{engine}{n}"),
                                        json.dumps({"engine": engine, "validation_fraction": 0}))
            if runs["streaming", n]["totals"] != runs["tasks", n]["totals"]:
                sys.exit(f"{n} copies: the engines' reports differ")
    print("one real document, n and 4n near copies (0-8 words replaced), 4 files; near dedup on\n")
    print("| engine | copies | kept | seconds | x n copies | peak RSS MB | task engine phases (s) | comparisons |")
    print("|---|---|---|---|---|---|---|---|")
    for (engine, n), run in runs.items():
        ratio = run["seconds"] / runs[engine, args.copies]["seconds"]
        phases = run.get("engine") or {}
        print(f"| {engine} | {n:,} | {run['totals']['kept']} | {run['seconds']:.2f} | {ratio:.2f} | "
              f"{run['peak_mb']:.0f} | {', '.join(f'{k} {v}' for k, v in phases.get('seconds', {}).items())} | "
              f"{phases.get('near_compared', '')} |")


if __name__ == "__main__":
    main()
