"""The evaluate stage: fine-tune a token classifier on an IOB2 NER task and score it.

Protocol: labels on each word's first subword; the epoch with the best validation entity F1
(seqeval strict IOB2, never accuracy) is kept; the test set is scored once with that model.
"""

from __future__ import annotations

import copy
import math

import torch
from accelerate.utils import set_seed
from torch.utils.data import DataLoader
from transformers import AutoModelForTokenClassification, get_linear_schedule_with_warmup

from medforge import log, meta, paths
from medforge.evaluate.config import EvaluateConfig
from medforge.evaluate.encode import collate, encode_sentences
from medforge.evaluate.report import write_report
from medforge.progress import bar
from medforge.tasks.conll import NerFile, read_conll, write_predictions
from medforge.tasks.metrics import ner_scores
from medforge.tokenizer.load import load_word_tokenizer

logger = log.get("evaluate")


def label_list(train: NerFile) -> list[str]:
    types = sorted(train.types)
    return ["O"] + [f"{p}-{t}" for t in types for p in ("B", "I")]


@torch.no_grad()
def predict(model, windows, n_words: list[int], id2label: dict[int, str], batch_size: int, pad_id: int,
            device) -> list[list[str]]:
    """One tag per word, assembled from the windows of each sentence."""
    model.eval()
    out: list[list[str | None]] = [[None] * n for n in n_words]
    for i in range(0, len(windows), batch_size):
        chunk = windows[i:i + batch_size]
        batch = collate(chunk, pad_id)
        logits = model(input_ids=batch["input_ids"].to(device),
                       attention_mask=batch["attention_mask"].to(device)).logits
        best = logits.argmax(-1).cpu()
        for row, window in enumerate(chunk):
            for k, position in enumerate(window.word_positions):
                slot = window.first_word + k
                assert out[window.sentence][slot] is None, "a word was predicted twice"
                out[window.sentence][slot] = id2label[int(best[row, position])]
    model.train()
    assert all(tag is not None for sent in out for tag in sent), "a word got no prediction"
    return out  # type: ignore[return-value]


def run(cfg: EvaluateConfig, ctx) -> dict:
    set_seed(ctx.seed)
    model_path = str(paths.resolve(cfg.model)) if cfg.model else str(ctx.need("pretrain") / "model")
    data = {split: read_conll(getattr(cfg.task, split)) for split in ("train", "dev", "test")}
    for split, f in data.items():
        if f.repaired_tags:
            logger.warning("%s: %d I- tags that did not continue an entity were repaired to B-", f.path,
                           f.repaired_tags)
    labels = label_list(data["train"])
    label2id = {label: i for i, label in enumerate(labels)}
    unseen = {split: sorted(data[split].types - data["train"].types) for split in ("dev", "test")}
    for split, types in unseen.items():
        if types:
            logger.warning("%s has entity types absent from train (%s): the model cannot predict them, "
                           "and they count as missed", split, ", ".join(types))

    tokenizer = load_word_tokenizer(model_path)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model = AutoModelForTokenClassification.from_pretrained(
        model_path, num_labels=len(labels), id2label=dict(enumerate(labels)), label2id=label2id).to(device)

    def windows(split):
        sents = data[split].sentences
        return encode_sentences(tokenizer, [s.tokens for s in sents], [s.tags for s in sents], label2id,
                                cfg.max_length)

    train_windows, dev_windows, test_windows = windows("train"), windows("dev"), windows("test")
    order = torch.Generator().manual_seed(ctx.seed)
    loader = DataLoader(train_windows, batch_size=cfg.batch_size, shuffle=True, generator=order,
                        collate_fn=lambda b: collate(b, tokenizer.pad_token_id))
    total_steps = cfg.epochs * len(loader)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
    scheduler = get_linear_schedule_with_warmup(optimizer, math.ceil(cfg.warmup_ratio * total_steps), total_steps)

    def score(split, split_windows):
        sents = data[split].sentences
        pred = predict(model, split_windows, [len(s.tokens) for s in sents], model.config.id2label,
                       cfg.batch_size, tokenizer.pad_token_id, device)
        return ner_scores([s.tags for s in sents], pred), pred

    history, best_f1, best_state, best_epoch = [], -1.0, None, 0
    model.train()
    for epoch in range(1, cfg.epochs + 1):
        running = 0.0
        for batch in bar(loader, desc=f"fine-tune epoch {epoch}/{cfg.epochs}", leave=False):
            loss = model(**{k: v.to(device) for k, v in batch.items()}).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            running += loss.item()
        dev_scores, _ = score("dev", dev_windows)
        history.append({"epoch": epoch, "train_loss": running / len(loader), "dev_f1": dev_scores["f1"]})
        logger.info("epoch %d: train loss %.4f, dev F1 %.4f", epoch, history[-1]["train_loss"], dev_scores["f1"])
        if dev_scores["f1"] > best_f1:
            best_f1, best_epoch = dev_scores["f1"], epoch
            best_state = copy.deepcopy(model.state_dict())

    model.load_state_dict(best_state)
    dev_scores, dev_pred = score("dev", dev_windows)
    test_scores, test_pred = score("test", test_windows)
    pred_dir = ctx.out / "predictions"
    pred_dir.mkdir()
    write_predictions(pred_dir / "dev.tsv", data["dev"].sentences, dev_pred)
    write_predictions(pred_dir / "test.tsv", data["test"].sentences, test_pred)
    model.save_pretrained(ctx.out / "model", safe_serialization=True)
    tokenizer.save_pretrained(ctx.out / "model")

    results = {
        "task": cfg.task.name, "model": model_path, "seed": ctx.seed, "best_epoch": best_epoch,
        "protocol": test_scores["protocol"], "labels": labels, "dev": dev_scores, "test": test_scores,
        "history": history,
        "data": {split: {"sentences": len(f.sentences), "tokens": sum(len(s.tokens) for s in f.sentences),
                         "windows": len(w), "repaired_tags": f.repaired_tags}
                 for (split, f), w in zip(data.items(), (train_windows, dev_windows, test_windows))},
        "unseen_types": unseen,
    }
    meta.write_json(ctx.out / "results.json", results)
    write_report(results, ctx.out / "results.md")
    logger.info("%s test: P %.4f R %.4f F1 %.4f (best epoch %d)", cfg.task.name, test_scores["precision"],
                test_scores["recall"], test_scores["f1"], best_epoch)
    return {"test_f1": test_scores["f1"], "dev_f1": dev_scores["f1"], "best_epoch": best_epoch}
