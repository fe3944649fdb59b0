"""Pre-training throughput: medforge against the usual Hugging Face recipe, same everything else.

Real (non-padding) tokens per second on real fr+en text of varied line length, one process,
same model, tokenizer, optimiser and training loop; only the data layout and the MLM head differ:

  hf line-by-line   run_mlm --line_by_line: one document per row, padded to seq_len,
                    DataCollatorForLanguageModeling, full-vocabulary head
  hf group_texts    run_mlm default: documents concatenated and cut into seq_len blocks,
                    DataCollatorForLanguageModeling, full-vocabulary head
  medforge          packed sequences (no dropped remainder), dynamic masking, MLM head only at
                    the masked positions

FLOPs per real token follow ../shared/GUIDE.md: 6*N_enc + 12*L*s*d + 6*p*(d^2 + d*V), with p
the share of positions that go through the head (1, or the masking rate).

    .venv/bin/python bench/pretrain_throughput.py [--preset mini --steps 30 --device cpu]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))


def main() -> None:
    from _common import real_lines
    from transformers import AutoTokenizer, DataCollatorForLanguageModeling

    from medforge.data.collator import MLMCollator
    from medforge.data.packers import pack_docs
    from medforge.models.flops import flops_per_token
    from medforge.models.mlm import SparseMLM
    from medforge.models.presets import PRESETS, build_mlm
    from medforge.tokenizer.config import TokenizerConfig
    from medforge.tokenizer.train import train_tokenizer

    parser = argparse.ArgumentParser()
    parser.add_argument("--preset", default="mini")
    parser.add_argument("--seq-len", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--vocab", type=int, default=32000)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--bf16", action="store_true", help="autocast to bfloat16 (GPU)")
    parser.add_argument("--compile", action="store_true",
                        help="torch.compile every row's model: the HF rows whole (run_mlm --torch_compile), medforge's "
                             "encoder (what pretrain.compile does; the sparse head's gather has data-dependent shapes)")
    args = parser.parse_args()
    torch.manual_seed(0)

    lines = real_lines()
    with tempfile.TemporaryDirectory() as folder:
        train_tokenizer(iter(lines[:20000]), TokenizerConfig(vocab_size=args.vocab, sample_mb=20), Path(folder), 0, [])
        tok = AutoTokenizer.from_pretrained(folder)
    docs = lines[20000:20000 + 3000]
    encoded = tok(docs, add_special_tokens=False)["input_ids"]
    lengths = sorted(len(ids) for ids in encoded)
    print(f"{len(docs)} real documents, tokens per document: median {lengths[len(lengths) // 2]}, "
          f"10% {lengths[len(lengths) // 10]}, 90% {lengths[9 * len(lengths) // 10]}; vocab {len(tok)}; "
          f"{args.preset} model, seq {args.seq_len}, batch {args.batch_size}, device {args.device}"
          f"{', compiled' if args.compile else ''}")

    s = args.seq_len
    line_rows = [[tok.cls_token_id] + ids[: s - 2] + [tok.sep_token_id] for ids in encoded]  # run_mlm truncates
    line_rows = [r + [tok.pad_token_id] * (s - len(r)) for r in line_rows]
    stream = [t for ids in encoded for t in [tok.cls_token_id] + ids + [tok.sep_token_id]]
    group_rows = [stream[i:i + s] for i in range(0, len(stream) - s + 1, s)]  # group_texts drops the remainder
    packed_rows = [r["input_ids"] for r in pack_docs(((ids, [1] * len(ids), [0]) for ids in encoded), s,
                                                     tok.cls_token_id, tok.sep_token_id, tok.pad_token_id)]
    hf_collator = DataCollatorForLanguageModeling(tok, mlm_probability=0.15)
    ours = MLMCollator(tok, 0.15, generator=torch.Generator().manual_seed(0))

    _, d, _, _ = PRESETS[args.preset]
    vocab = len(tok)

    def measure(name, rows, collate, sparse):
        model = build_mlm("roberta", args.preset, tok, s).to(args.device)
        objective = SparseMLM(model, sparse)
        if args.compile:
            (model.base_model if sparse else model).compile()
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
        batches = [rows[(i * args.batch_size) % len(rows):][: args.batch_size] for i in range(args.steps + 3)]
        real = 0
        for i, rows_i in enumerate(batches):
            if i == 3:  # warm-up (and compilation) done
                if args.device == "cuda":
                    torch.cuda.synchronize()
                start, real = time.perf_counter(), 0
            # with the tokenizer's attention mask, as run_mlm passes it (pads are not attended to)
            batch = collate([{"input_ids": torch.tensor(r), "attention_mask": torch.tensor(r) != tok.pad_token_id}
                             for r in rows_i])
            padded = bool((batch["attention_mask"] == 0).any())  # on the host, as medforge's training step
            batch = {k: batch[k].to(args.device).long() for k in ("input_ids", "attention_mask", "labels")}
            real += int(batch["attention_mask"].sum())
            if name.startswith("medforge") and not padded:  # its step runs unpadded batches without a mask
                batch["attention_mask"] = None
            with torch.autocast(args.device, dtype=torch.bfloat16, enabled=args.bf16):
                total, count = objective(**batch)  # summed over the targets, and their number
            (total / count.clamp(min=1)).backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
        if args.device == "cuda":
            torch.cuda.synchronize()
        seconds = time.perf_counter() - start
        total = args.steps * args.batch_size * s  # every row is seq_len long
        padding = 1 - real / total
        per_token = flops_per_token(model, s, 0.15 if sparse else 1.0)
        head = 6 * (0.15 if sparse else 1.0) * (d * d + d * vocab) / per_token
        return {"name": name, "tokens_per_s": real / seconds, "padding": padding, "head_share": head,
                "tflops": real / seconds * per_token / 1e12}

    results = [
        measure("hf line-by-line (padded)", line_rows, hf_collator, sparse=False),
        measure("hf group_texts", group_rows, hf_collator, sparse=False),
        measure("medforge packed, full head", packed_rows, ours, sparse=False),
        measure("medforge packed, sparse head", packed_rows, ours, sparse=True),
    ]
    dropped = len(stream) - len(group_rows) * s
    print(f"group_texts dropped {dropped} tokens of the remainder; line-by-line truncated "
          f"{sum(max(0, len(ids) - (s - 2)) for ids in encoded)} tokens past seq_len")
    base = results[0]["tokens_per_s"]
    print(f"\n{'recipe':32} {'real tokens/s':>14} {'x line-by-line':>15} {'padding':>8} {'head FLOPs':>11} "
          f"{'TFLOP/s':>8}")
    for r in results:
        print(f"{r['name']:32} {r['tokens_per_s']:14.0f} {r['tokens_per_s'] / base:15.2f} {100 * r['padding']:7.1f}% "
              f"{100 * r['head_share']:10.1f}% {r['tflops']:8.3f}")
    g, m = results[1]["tokens_per_s"], results[3]["tokens_per_s"]
    print(f"\nmedforge vs hf group_texts: {m / g:.2f}x (sparse head; packing alone gives "
          f"{results[2]['tokens_per_s'] / g:.2f}x)")


if __name__ == "__main__":
    main()
