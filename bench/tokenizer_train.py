"""Tokenizer training: time and peak memory per algorithm on N MB of real text (replicated).

Each configuration trains in its own process so that peak memory (max RSS) is its own.
Baseline: byte-level BPE on the whole text. The last rows train on a 10 MB streaming sample
of the same text: memory is bounded by the budget, not by the corpus.

    .venv/bin/python bench/tokenizer_train.py --mb 100
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

RUNS = [("byte_bpe", "roberta", 0), ("sp_bpe", "camembert", 0), ("sp_unigram", "camembert", 0),
        ("wordpiece", "bert", 0), ("byte_bpe", "roberta", 10), ("sp_unigram", "camembert", 10)]


def one(algorithm: str, family: str, mb: float, sample_mb: float) -> dict:
    from _common import real_lines, replicate

    from medforge.tokenizer.config import TokenizerConfig
    from medforge.tokenizer.train import train_tokenizer

    texts = replicate(real_lines(), mb)
    rss_data = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as out:
        cfg = TokenizerConfig(algorithm=algorithm, family=family, vocab_size=32000, sample_mb=sample_mb)
        summary = train_tokenizer(iter(texts), cfg, Path(out), seed=0, held_out=texts[:50])
    return {"seconds": time.perf_counter() - start,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "rss_with_text_mb": rss_data / 1024, "vocab": summary["vocab_size"],
            "trained_on_mb": summary["sample"]["bytes_used"] / 1e6}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=float, default=100.0, help="size of the text (default 100 MB)")
    parser.add_argument("--one", nargs=3, metavar=("ALGORITHM", "FAMILY", "SAMPLE_MB"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        algorithm, family, sample_mb = args.one
        print(json.dumps(one(algorithm, family, args.mb, float(sample_mb))))
        return
    rows = []
    for algorithm, family, sample_mb in RUNS:
        done = subprocess.run([sys.executable, __file__, "--mb", str(args.mb), "--one", algorithm, family,
                               str(sample_mb)], capture_output=True, text=True)
        if done.returncode:
            sys.exit(done.stderr[-2000:])
        row = json.loads(done.stdout.strip().splitlines()[-1])
        rows.append((f"{algorithm} ({family})" + (f", {sample_mb} MB sample" if sample_mb else ""), row))
        print(f"done: {rows[-1][0]}: {row['seconds']:.1f} s", file=sys.stderr)
    base = rows[0][1]
    print(f"\nTokenizer training on {args.mb:g} MB of real fr+en text (replicated), vocab 32000, one process each")
    print(f"{'configuration':40} {'trained on':>11} {'time':>8} {'x base':>7} {'peak RSS':>10} {'x base':>7} "
          f"{'RSS before':>11}")
    for name, r in rows:
        print(f"{name:40} {r['trained_on_mb']:9.1f}MB {r['seconds']:7.1f}s {r['seconds'] / base['seconds']:7.2f} "
              f"{r['peak_rss_mb']:8.0f}MB {r['peak_rss_mb'] / base['peak_rss_mb']:7.2f} {r['rss_with_text_mb']:9.0f}MB")
    print("(RSS before: the process after loading the text list, before training; the corpus itself is held "
          "in memory here only to replicate it.)")


if __name__ == "__main__":
    main()
