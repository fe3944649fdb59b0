"""Corpus preparation: MB/s of the prepare chain against a plain read-and-write loop, and peak memory at
1x and 10x the input.

    .venv/bin/python bench/prepare_throughput.py [--mb 20]

Chain: read + normalise + filters + exact dedup + PII scan + write (Parquet shards), one process;
then the same with near-duplicate detection (MinHash LSH), whose own speed is the difference; then with a
language filter too (every document identified instead of one in 20); then with every optional step off
(no personal-data screen, no duplicate detection, no normalisation, no repair): the floor of reading,
the checks every document gets, the split and writing. The language identifier alone,
py3langid's own loop against medforge's vector walk of the same model on the same documents, in this
process (the answers must be equal, or the bench stops).
Memory: the whole stage in a fresh process on the input, then on 10 copies of it (each line
marked with its copy number, so every copy is read, normalised, screened and MinHashed, and
removed as a near duplicate).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import real_lines, replicate  # noqa: E402

_CHILD = r"""
import json, resource, sys, time
from pathlib import Path
from medforge.corpus.config import PrepareConfig
from medforge.corpus.stage import run
from medforge.pipeline import StageContext
out = Path(sys.argv[2]); out.mkdir(parents=True, exist_ok=True)
cfg = PrepareConfig(**json.loads(sys.argv[3]), inputs=[sys.argv[1]])
t = time.perf_counter()
summary = run(cfg, StageContext(run_dir=out.parent, out=out, seed=0, upstream={}))
print(json.dumps({"seconds": time.perf_counter() - t,
                  "peak_mb": int(next(l for l in open("/proc/self/status") if l.startswith("VmHWM")).split()[1]) / 1024,
                  "totals": summary["totals"]}))
"""
SETTINGS = {"pii_allow": True, "workers": 1}


def stage(path: Path, out: Path, **settings) -> dict:
    proc = subprocess.run([sys.executable, "-c", _CHILD, str(path), str(out), json.dumps({**SETTINGS, **settings})],
                          capture_output=True, text=True, check=False)
    if proc.returncode:
        sys.exit(proc.stderr[-3000:])
    return json.loads(proc.stdout.strip().splitlines()[-1])


def plain_loop(path: Path, out: Path) -> float:
    t = time.perf_counter()
    with path.open(encoding="utf-8") as src, out.open("w", encoding="utf-8") as dst:
        for line in src:
            dst.write(line)
    return time.perf_counter() - t


def identifier_speed(lines: list[str], count: int = 2000) -> tuple[float, float, float]:
    """Milliseconds a document: the package's classify, ours one at a time, ours in batches of 256."""
    from py3langid.langid import LanguageIdentifier, _get_identifier

    from medforge.corpus.langid import identifier

    texts = [line[:2000] for line in lines[::max(1, len(lines) // count)][:count]]  # every language
    package: LanguageIdentifier = _get_identifier()
    ours = identifier()
    runs = []
    for classify in (lambda: [package.classify(t) for t in texts], lambda: [ours.classify(t) for t in texts],
                     lambda: ours.classify_batch(texts)):
        t = time.perf_counter()
        runs.append((classify(), (time.perf_counter() - t) * 1000 / len(texts)))
    if any(found != runs[0][0] for found, _ in runs):
        sys.exit("the language identifier's answers differ from the package's")
    times = [ms for _, ms in runs]
    return times[0], times[1], times[2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mb", type=float, default=20, help="input size in MB, from ../shared/data/text (default 20)")
    args = parser.parse_args()
    lines = replicate(real_lines(("fr", "en", "ja")), args.mb)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        one = tmp / "one.txt"
        one.write_text("\n".join(lines) + "\n", encoding="utf-8")
        mb = one.stat().st_size / 1e6
        baseline = plain_loop(one, tmp / "copy.txt")
        chain = stage(one, tmp / "chain", dedup_near=False)
        near = stage(one, tmp / "near", dedup_near=True)
        ten = tmp / "ten.txt"
        with ten.open("w", encoding="utf-8") as fh:
            for copy in range(10):
                fh.writelines(f"{line} [{copy}]\n" if copy else line + "\n" for line in lines)
        tenfold = stage(ten, tmp / "ten", dedup_near=True)
        filtered = stage(one, tmp / "lang", dedup_near=True, languages=["fr", "en", "ja"])
        floor = stage(one, tmp / "floor", dedup_near=False, dedup_exact=False, pii_types=[], normalization="none",
                      fix_mojibake=False, remove_repeated_lines=False)
    package, alone, batched = identifier_speed(lines)

    near_only = mb / max(near["seconds"] - chain["seconds"], 1e-9)
    print(f"input: {mb:.1f} MB, {len(lines):,} documents of ../shared/data/text (fr, en, ja); 1 process\n")
    print("| run | seconds | MB/s | x plain loop |")
    print("|---|---|---|---|")
    for name, seconds in (("plain read + write loop", baseline), ("prepare chain, no near dedup", chain["seconds"]),
                          ("prepare chain + near dedup", near["seconds"]),
                          ("prepare chain + near dedup + language filter (fr, en, ja)", filtered["seconds"]),
                          ("every optional step off (no screen, no duplicates, no normalisation)", floor["seconds"])):
        print(f"| {name} | {seconds:.2f} | {mb / seconds:.1f} | {baseline / seconds:.3f} |")
    print(f"\nnear-duplicate detection alone (difference of the two chains): {near_only:.1f} MB/s")
    print(f"kept {chain['totals']['kept']:,} of {chain['totals']['read']:,} (exact dedup only); "
          f"{near['totals']['kept']:,} with near dedup; {filtered['totals']['kept']:,} with the language filter")
    print(f"language identification, ms a document (same answers): py3langid {package:.3f}, medforge one at a time "
          f"{alone:.3f} ({package / alone:.1f}x), in batches {batched:.3f} ({package / batched:.1f}x)")
    print("\n| input | documents read | kept | peak RSS (MB) | x 1x |")
    print("|---|---|---|---|---|")
    for name, run in (("1x", near), ("10x (copies marked)", tenfold)):
        print(f"| {name} | {run['totals']['read']:,} | {run['totals']['kept']:,} | {run['peak_mb']:.0f} | "
              f"{run['peak_mb'] / near['peak_mb']:.2f} |")


if __name__ == "__main__":
    main()
