"""Fine-tune a sequence classifier (single-label softmax, multi-label sigmoid, or one regression output for
similarity scores) on one text or a pair of texts, with one seed.

A linear head on the encoder, no layer frozen; the best epoch on the task's headline metric over
validation is kept; test is scored once. Texts longer than the task's ``max_length`` are cut, and
how many were cut is recorded in the results (never silently).
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from accelerate.utils import set_seed
from transformers import AutoModelForSequenceClassification

from medforge import log, meta
from medforge.evaluate.finetune import train_keep_best
from medforge.models.presets import fit_length
from medforge.tasks.data import ClsData
from medforge.tasks.kinds import kind_of
from medforge.tasks.windows import pad_rows
from medforge.tokenizer.load import load_word_tokenizer

logger = log.get("evaluate")


def _pad(rows: list[list[int]], pad_id: int) -> dict:
    ids, mask = pad_rows(rows, pad_id)
    return {"input_ids": ids, "attention_mask": mask}


def finetune_classification(model_path: str, data: ClsData, hp, seed: int, out: Path, settings: dict) -> tuple:
    set_seed(seed)
    kind = kind_of(data.spec.type)
    multi, regression = kind.multilabel, kind.regression
    labels = data.labels
    label2id = {label: i for i, label in enumerate(labels)}
    tokenizer = load_word_tokenizer(model_path)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    problem = "regression" if regression else "multi_label_classification" if multi else "single_label_classification"
    model = AutoModelForSequenceClassification.from_pretrained(
        model_path, num_labels=1 if regression else len(labels),
        id2label={0: "score"} if regression else dict(enumerate(labels)),
        label2id={"score": 0} if regression else label2id, problem_type=problem).to(device)
    max_length, note = fit_length(data.spec.max_length, model.config, f"task {data.spec.name}:", logger)
    examples = {split: f.examples for split, f in data.splits.items()}
    # a pair is encoded as the model family joins two texts (<s> A </s></s> B </s>, [CLS] A [SEP] B [SEP]);
    # cutting a long one keeps the start of both and shortens the second (a question's context)
    full = {split: tokenizer([e.text for e in ex], [e.pair for e in ex] if kind.pair else None,
                             split_special_tokens=True)["input_ids"]
            for split, ex in examples.items()}
    truncated = {split: sum(len(ids) > max_length for ids in rows) for split, rows in full.items()}
    encoded = {split: [ids[:max_length - 1] + ids[-1:] if len(ids) > max_length else ids
                       for ids in rows] for split, rows in full.items()}  # keep the closing special token

    def targets(indices: list[int]) -> torch.Tensor:
        if regression:
            return torch.tensor([[examples["train"][i].value] for i in indices], dtype=torch.float32)
        rows = [examples["train"][i].labels for i in indices]
        if multi:
            y = torch.zeros((len(rows), len(labels)))
            for r, row in enumerate(rows):
                for label in row:
                    if label in label2id:
                        y[r, label2id[label]] = 1.0
            return y
        return torch.tensor([label2id[row[0]] for row in rows])

    def make_batch(indices):
        return {**_pad([encoded["train"][i] for i in indices], tokenizer.pad_token_id), "labels": targets(indices)}

    @torch.no_grad()
    def predict(split) -> list[tuple[str, ...]]:
        model.eval()
        rows = encoded[split]
        order = sorted(range(len(rows)), key=lambda i: len(rows[i]))  # little padding
        out: list = [None] * len(rows)
        for start in range(0, len(order), hp.batch_size):
            chunk = order[start:start + hp.batch_size]
            batch = {k: v.to(device) for k, v in _pad([rows[i] for i in chunk], tokenizer.pad_token_id).items()}
            logits = model(**batch).logits.float().cpu()
            for i, row in zip(chunk, logits):
                out[i] = (float(row[0]),) if regression else \
                    tuple(labels[j] for j in (row > 0).nonzero().flatten().tolist()) if multi else \
                    (labels[int(row.argmax())],)
        model.train()
        return out

    scorer = kind.call("scorer")

    def score(split):
        pred = predict(split)
        return scorer(gold_of(split), pred, labels, data.spec.negative_label), pred

    def gold_of(split) -> list[tuple]:
        return [(e.value,) if regression else e.labels for e in examples[split]]

    history, best_epoch, (dev_scores, dev_pred) = train_keep_best(
        model, [len(r) for r in encoded["train"]], make_batch, lambda: score("dev"), data.spec.headline, hp, seed,
        device, data.spec.name)
    test_scores, test_pred = score("test")
    out.mkdir(parents=True, exist_ok=True)
    for split, pred in (("dev", dev_pred), ("test", test_pred)):
        with (out / f"{split}.jsonl").open("w", encoding="utf-8") as fh:
            for e, g, p in zip(examples[split], gold_of(split), pred):
                fh.write(json.dumps({"line": e.line, "gold": list(g), "pred": list(p)}, ensure_ascii=False) + "\n")
    results = {
        "task": data.spec.name, "type": data.spec.type, "headline": data.spec.headline, "model": model_path,
        "seed": seed, "best_epoch": best_epoch, "protocol": test_scores["protocol"], "labels": labels,
        "dev": dev_scores, "test": test_scores, "history": history, "settings": settings, "data": data.summary(),
        "truncated": truncated, "max_length": max_length, "notes": data.notes + ([note] if note else []),
        "unseen": data.unseen(),
        "versions": meta.versions(),
    }
    meta.write_json(out / "results.json", results)
    logger.info("%s seed %d test: %s %.4f (best epoch %d; %d test texts cut at %d tokens)", data.spec.name, seed,
                data.spec.headline, test_scores[data.spec.headline], best_epoch, truncated["test"], max_length)
    return results, model, tokenizer
