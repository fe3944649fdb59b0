"""NER fine-tuning throughput: length-grouped batches against naive padding to the maximum length.

Same model, tokenizer, sentences (NCBI-disease train from ../shared/data), optimiser and number of
steps; only the batching differs:

  naive padded     random batches, every window padded to max_length (HF run_ner with
                   pad_to_max_length, as bio-lm's scripts ran it)
  random, dynamic  random batches padded to their own longest window (DataCollatorForTokenClassification)
  length-grouped   medforge: shuffled groups sorted by length, padded to the batch's longest

Reports sentences/s (training steps: forward, backward, AdamW) and the padding share; then prediction
on the validation set (what every epoch and every seed pays): batches in sentence order, each padded
to its longest, against medforge's predict, which batches windows sorted by length.

    .venv/bin/python bench/ner_finetune_throughput.py [--preset small --steps 40 --max-length 128]
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
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    from medforge.models.presets import build_mlm
    from medforge.tasks.data import read_ner_task
    from medforge.tasks.spec import load_task
    from medforge.tasks.windows import collate, encode_sentences, length_grouped_batches, predict
    from medforge.tokenizer.config import TokenizerConfig
    from medforge.tokenizer.train import train_tokenizer

    parser = argparse.ArgumentParser()
    parser.add_argument("--preset", default="small")
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--data-root", default=str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    args = parser.parse_args()
    torch.manual_seed(0)

    text = real_lines(("en",))[:20000]  # exits with a message when the shared data is absent
    data = read_ner_task(load_task("ncbi-disease", args.data_root))
    with tempfile.TemporaryDirectory() as folder:
        train_tokenizer(iter(text), TokenizerConfig(vocab_size=16000, sample_mb=10),
                        Path(folder), 0, [])
        tok = AutoTokenizer.from_pretrained(folder)
        labels = data.labels
        label2id = {label: i for i, label in enumerate(labels)}
        sents = data.splits["train"].sentences
        windows = encode_sentences(tok, [s.tokens for s in sents], [s.tags for s in sents], label2id, args.max_length)
        lengths = [len(w.input_ids) for w in windows]
        build_mlm("roberta", args.preset, tok, args.max_length).save_pretrained(folder)
        print(f"{len(windows)} NCBI-disease train windows; subword tokens per window: median "
              f"{sorted(lengths)[len(lengths) // 2]}, max {max(lengths)}; {args.preset} model, "
              f"batch {args.batch_size}, "
              f"max_length {args.max_length}, {args.steps} steps, CPU threads {torch.get_num_threads()}")

        def measure(name, batches, pad_to):
            model = AutoModelForTokenClassification.from_pretrained(folder, num_labels=len(labels))
            optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
            real = slots = 0
            for i, indices in enumerate(batches[: args.steps + 3]):
                if i == 3:
                    start, real, slots, sentences = time.perf_counter(), 0, 0, 0
                batch = collate([windows[j] for j in indices], tok.pad_token_id)
                if pad_to:
                    width = batch["input_ids"].shape[1]
                    batch = {k: torch.nn.functional.pad(v, (0, pad_to - width),
                                                        value={"input_ids": tok.pad_token_id, "labels": -100}.get(k, 0))
                             for k, v in batch.items()}
                real += int(batch["attention_mask"].sum())
                slots += batch["attention_mask"].numel()
                if i >= 3:
                    sentences += len(indices)
                model(**batch).loss.backward()
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
            seconds = time.perf_counter() - start
            return {"name": name, "sentences_per_s": sentences / seconds, "padding": 1 - real / slots}

        order = torch.randperm(len(windows), generator=torch.Generator().manual_seed(0)).tolist()
        random_batches = [order[i:i + args.batch_size] for i in range(0, len(order), args.batch_size)]
        grouped = length_grouped_batches(lengths, args.batch_size, torch.Generator().manual_seed(0))
        results = [measure("naive padded to max_length", random_batches, args.max_length),
                   measure("random, dynamic padding", random_batches, None),
                   measure("medforge length-grouped", grouped, None)]

        dev = data.splits["dev"].sentences
        dev_windows = encode_sentences(tok, [s.tokens for s in dev], None, label2id, args.max_length)
        model = AutoModelForTokenClassification.from_pretrained(folder, num_labels=len(labels)).eval()

        @torch.no_grad()
        def in_sentence_order():
            for i in range(0, len(dev_windows), args.batch_size):
                batch = collate(dev_windows[i:i + args.batch_size], tok.pad_token_id)
                model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits.argmax(-1)

        def sorted_by_length():
            predict(model, dev_windows, [len(s.tokens) for s in dev], dict(enumerate(labels)), args.batch_size,
                    tok.pad_token_id, torch.device("cpu"))

        timings = []
        for name, run in (("in sentence order", in_sentence_order), ("medforge, sorted by length", sorted_by_length)):
            run()  # warm-up
            start = time.perf_counter()
            run()
            timings.append((name, len(dev) / (time.perf_counter() - start)))
    base = results[0]["sentences_per_s"]
    print(f"\n{'batching':30} {'sentences/s':>12} {'x naive':>8} {'padding':>8}")
    for r in results:
        print(f"{r['name']:30} {r['sentences_per_s']:12.1f} {r['sentences_per_s'] / base:8.2f} "
              f"{100 * r['padding']:7.1f}%")
    print(f"\n{len(dev)} validation sentences predicted, batch {args.batch_size}")
    print(f"{'prediction batches':30} {'sentences/s':>12} {'x order':>8}")
    for name, rate in timings:
        print(f"{name:30} {rate:12.1f} {rate / timings[0][1]:8.2f}")


if __name__ == "__main__":
    main()
