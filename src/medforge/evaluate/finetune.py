"""Fine-tune a token classifier on one NER task with one seed, and score it; the epoch loop that
classification shares.

Protocol: labels on each word's first subword; the epoch with the best validation entity F1
(seqeval strict IOB2, never accuracy) is kept; the test set is scored once with that model.
Batches group windows of similar length, so little compute goes to padding.
"""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path

import torch
from accelerate.utils import set_seed
from transformers import AutoModelForTokenClassification, get_linear_schedule_with_warmup

from medforge import log, meta
from medforge.models.presets import fit_length
from medforge.progress import bar
from medforge.tasks.conll import write_predictions
from medforge.tasks.data import NerData
from medforge.tasks.metrics import ner_scores
from medforge.tasks.windows import collate, encode_sentences, length_grouped_batches, predict
from medforge.tokenizer.load import load_word_tokenizer

logger = log.get("evaluate")

def train_keep_best(model, lengths: list[int], make_batch, evaluate_dev, headline: str, hp, seed: int, device,
                    name: str):
    """Fine-tune for ``hp.epochs`` over length-grouped batches (AdamW, linear warmup and decay), evaluate
    validation after each epoch (``evaluate_dev()`` gives scores and predictions), and leave the model with
    the best epoch's weights. Returns (history, best epoch, that epoch's validation scores and predictions),
    so validation is not predicted again."""
    order = torch.Generator().manual_seed(seed)
    epoch_batches = [length_grouped_batches(lengths, hp.batch_size, order) for _ in range(hp.epochs)]
    if hp.max_steps:  # a step budget instead of whole epochs: the last epoch is cut short
        left, cut = hp.max_steps, []
        for batches in epoch_batches:
            if left > 0:
                cut.append(batches[:left])
                left -= len(cut[-1])
        epoch_batches = cut
    total_steps = sum(len(b) for b in epoch_batches)
    optimizer = torch.optim.AdamW(model.parameters(), lr=hp.learning_rate, weight_decay=hp.weight_decay)
    scheduler = get_linear_schedule_with_warmup(optimizer, math.ceil(hp.warmup_ratio * total_steps), total_steps)
    history, best_score, best_state, best_epoch, best_dev = [], -1.0, None, 0, None
    model.train()
    for epoch, batches in enumerate(epoch_batches, start=1):
        running = 0.0
        for indices in bar(batches, desc=f"{name} seed {seed} epoch {epoch}/{len(epoch_batches)}", leave=False):
            loss = model(**{k: v.to(device) for k, v in make_batch(indices).items()}).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            running += loss.item()
        dev_result = evaluate_dev()
        dev = dev_result[0][headline]
        history.append({"epoch": epoch, "steps": len(batches), "train_loss": running / len(batches),
                        "dev_score": dev})
        logger.info("%s seed %d epoch %d: train loss %.4f, dev score %.4f", name, seed, epoch,
                    history[-1]["train_loss"], dev)
        if dev > best_score:
            best_score, best_epoch, best_dev = dev, epoch, dev_result
            best_state = copy.deepcopy(model.state_dict())
    model.load_state_dict(best_state)
    return history, best_epoch, best_dev


def finetune_ner(model_path: str, data: NerData, hp, seed: int, out: Path, settings: dict) -> tuple:
    """Train, pick the best epoch on dev, score dev and test; write ``out/results.json`` and the
    predictions. Returns (results, the model with the best epoch's weights, its tokenizer)."""
    set_seed(seed)
    labels = data.labels
    label2id = {label: i for i, label in enumerate(labels)}
    tokenizer = load_word_tokenizer(model_path)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model = AutoModelForTokenClassification.from_pretrained(
        model_path, num_labels=len(labels), id2label=dict(enumerate(labels)), label2id=label2id).to(device)
    max_length, note = fit_length(data.spec.max_length, model.config, f"task {data.spec.name}:", logger)
    sents = {split: f.sentences for split, f in data.splits.items()}
    windows = {split: encode_sentences(tokenizer, [s.tokens for s in ss], [s.tags for s in ss], label2id,
                                       max_length, data.spec.window_context,
                                       hp.label_all_subwords) for split, ss in sents.items()}
    lengths = [len(w.input_ids) for w in windows["train"]]

    def score(split):
        pred = predict(model, windows[split], [len(s.tokens) for s in sents[split]], model.config.id2label,
                       hp.batch_size, tokenizer.pad_token_id, device)
        return ner_scores([s.tags for s in sents[split]], pred), pred

    history, best_epoch, (dev_scores, dev_pred) = train_keep_best(
        model, lengths, lambda idx: collate([windows["train"][i] for i in idx], tokenizer.pad_token_id),
        lambda: score("dev"), data.spec.headline, hp, seed, device, data.spec.name)
    test_scores, test_pred = score("test")
    out.mkdir(parents=True, exist_ok=True)
    for split, pred in (("dev", dev_pred), ("test", test_pred)):
        write_predictions(out / f"{split}.conll", sents[split], pred)
        with (out / f"{split}.jsonl").open("w", encoding="utf-8") as fh:
            for s, p in zip(sents[split], pred):
                fh.write(json.dumps({"tokens": s.tokens, "gold": s.tags, "pred": p}, ensure_ascii=False) + "\n")
    results = {
        "task": data.spec.name, "model": model_path, "seed": seed, "best_epoch": best_epoch,
        "protocol": test_scores["protocol"], "labels": labels, "dev": dev_scores, "test": test_scores,
        "history": history, "settings": settings, "data": data.summary(),
        "notes": data.notes + ([note] if note else []), "max_length": max_length,
        "unseen": data.unseen(), "versions": meta.versions(), "type": "ner",
        "headline": data.spec.headline,
    }
    meta.write_json(out / "results.json", results)
    logger.info("%s seed %d test: P %.4f R %.4f F1 %.4f (best epoch %d)", data.spec.name, seed,
                test_scores["precision"], test_scores["recall"], test_scores["f1"], best_epoch)
    return results, model, tokenizer
