"""The pretrain stage: pack the corpus, then train a masked language model from scratch.

Reads top to bottom: data, model, optimiser, loop. The loop counts optimizer steps; each step
accumulates ``grad_accum`` micro-batches. Held-out loss uses a fixed masking seed so that the
numbers are comparable from one evaluation to the next.
"""

from __future__ import annotations

import json
import math
import time

import torch
from accelerate import Accelerator
from accelerate.utils import set_seed
from torch.utils.data import DataLoader
from transformers import AutoTokenizer, get_linear_schedule_with_warmup

from medforge import log, meta, paths
from medforge.data.collator import MLMCollator
from medforge.data.pack import build_packed
from medforge.errors import MedforgeError
from medforge.models.mlm import SparseMLM
from medforge.models.presets import build_mlm, load_mlm
from medforge.pretrain.checkpoint import save_checkpoint
from medforge.progress import bar
from medforge.pretrain.config import PretrainConfig
from medforge.tokenizer.special import check_special_tokens

logger = log.get("pretrain")


def param_groups(model, weight_decay: float) -> list[dict]:
    """No weight decay on biases and LayerNorm weights (decaying them only hurts)."""
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        (no_decay if param.ndim < 2 else decay).append(param)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def batches_forever(dataset, batch_size: int, collator, seed: int):
    """Reshuffled each epoch with a seed derived from the run seed; yields (epoch, index, batch)."""
    epoch = 0
    while True:
        order = torch.Generator().manual_seed(seed + epoch)
        loader = DataLoader(dataset, batch_size=batch_size, shuffle=True, generator=order, collate_fn=collator)
        for index, batch in enumerate(loader):
            yield epoch, index, batch
        epoch += 1


@torch.no_grad()
def evaluate_mlm(model, dataset, tokenizer, cfg: PretrainConfig, seed: int, accelerator) -> dict:
    """Mean MLM loss over all masked tokens of the held-out split, and its perplexity."""
    model.eval()
    collator = MLMCollator(tokenizer, cfg.mlm_probability, cfg.mask_replace_prob, cfg.random_replace_prob,
                           generator=torch.Generator().manual_seed(seed), whole_word=cfg.whole_word_mask)
    total, count = 0.0, 0
    for batch in DataLoader(dataset, batch_size=cfg.batch_size, collate_fn=collator):
        batch = {k: v.to(accelerator.device) for k, v in batch.items()}
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        loss = torch.nn.functional.cross_entropy(logits.view(-1, logits.size(-1)).float(),
                                                 batch["labels"].view(-1), reduction="sum", ignore_index=-100)
        total += loss.item()
        count += int((batch["labels"] != -100).sum())
    model.train()
    mean = total / max(count, 1)
    return {"eval_loss": mean, "eval_perplexity": math.exp(min(mean, 50.0)), "eval_tokens": count}


def run(cfg: PretrainConfig, ctx) -> dict:
    accelerator = Accelerator(cpu=not torch.cuda.is_available())
    set_seed(ctx.seed)
    tokenizer_dir = paths.model_ref(cfg.tokenizer, "tokenizer") if cfg.tokenizer else ctx.need("tokenizer")
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    check_special_tokens(tokenizer, str(tokenizer_dir))
    corpus = ctx.need("prepare")

    data_dir = ctx.out / "packed"
    train_ds, train_stats = build_packed(corpus, "train", tokenizer, cfg.seq_len, data_dir)
    val_ds, val_stats = build_packed(corpus, "validation", tokenizer, cfg.seq_len, data_dir)
    logger.info("packed %d train sequences of %d tokens (%.2f%% padding), %d validation sequences",
                train_stats["sequences"], cfg.seq_len, 100 * train_stats["padding_fraction"], len(val_ds))
    columns = ["input_ids", "starts"] if cfg.whole_word_mask else ["input_ids"]
    train_ds = train_ds.select_columns(columns)
    val_ds = val_ds.select_columns(columns)

    if cfg.model.init_from:
        model = load_mlm(paths.model_ref(cfg.model.init_from), tokenizer, cfg.seq_len)
        described = f"continued from {cfg.model.init_from}"
    else:
        model = build_mlm(cfg.model.family, cfg.model.preset, tokenizer, cfg.seq_len)
        described = f"new {cfg.model.family}-{cfg.model.preset}"
    n_params = sum(p.numel() for p in model.parameters())
    logger.info("model: %s, %.2fM parameters", described, n_params / 1e6)
    optimizer = torch.optim.AdamW(param_groups(model, cfg.weight_decay), lr=cfg.learning_rate,
                                  betas=tuple(cfg.adam_betas), eps=cfg.adam_eps)
    scheduler = get_linear_schedule_with_warmup(optimizer, cfg.warmup_steps, cfg.max_steps)
    objective, optimizer = accelerator.prepare(SparseMLM(model, cfg.sparse_head), optimizer)

    collator = MLMCollator(tokenizer, cfg.mlm_probability, cfg.mask_replace_prob, cfg.random_replace_prob,
                           generator=torch.Generator().manual_seed(ctx.seed + 1), whole_word=cfg.whole_word_mask)
    stream = batches_forever(train_ds, cfg.batch_size, collator, ctx.seed)
    history_path = ctx.out / "metrics.jsonl"
    history = []

    def record(row: dict) -> None:
        history.append(row)
        with history_path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(row) + "\n")

    model.train()
    real_tokens, window_tokens, window_start = 0, 0, time.perf_counter()
    start = time.perf_counter()
    epoch = index = 0
    progress = bar(range(1, cfg.max_steps + 1), desc="pretrain", unit="step")
    for step in progress:
        step_loss = 0.0
        for micro in range(cfg.grad_accum):
            epoch, index, batch = next(stream)
            batch = {k: v.to(accelerator.device) for k, v in batch.items()}
            n_real = int(batch["attention_mask"].sum())
            real_tokens += n_real
            window_tokens += n_real
            loss = objective(**batch) / cfg.grad_accum
            accelerator.backward(loss)
            step_loss += loss.item()
        if not math.isfinite(step_loss):
            raise MedforgeError(f"training loss became {step_loss} at step {step}; lower "
                                f"'pretrain.learning_rate' (now {cfg.learning_rate}) or raise warmup")
        if cfg.max_grad_norm > 0:
            accelerator.clip_grad_norm_(objective.parameters(), cfg.max_grad_norm)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        progress.set_postfix(loss=f"{step_loss:.3f}")

        if step % cfg.log_every == 0 or step == cfg.max_steps:
            elapsed = time.perf_counter() - window_start
            record({"step": step, "loss": step_loss, "lr": scheduler.get_last_lr()[0],
                    "tokens_per_s": window_tokens / max(elapsed, 1e-9), "real_tokens": real_tokens,
                    "epoch": epoch})
            logger.info("step %d/%d: loss %.4f, lr %.2e, %.0f tokens/s", step, cfg.max_steps, step_loss,
                        history[-1]["lr"], history[-1]["tokens_per_s"])
            window_tokens, window_start = 0, time.perf_counter()
        if (step % cfg.eval_every == 0 or step == cfg.max_steps) and len(val_ds):
            row = {"step": step, **evaluate_mlm(model, val_ds, tokenizer, cfg, ctx.seed, accelerator)}
            record(row)
            logger.info("step %d: held-out loss %.4f, perplexity %.2f", step, row["eval_loss"],
                        row["eval_perplexity"])
        if step % cfg.save_every == 0 or step == cfg.max_steps:
            save_checkpoint(ctx.out, step, accelerator.unwrap_model(model), optimizer, scheduler,
                            {"step": step, "epoch": epoch, "batch_in_epoch": index + 1,
                             "real_tokens": real_tokens, "seed": ctx.seed}, keep_last=cfg.keep_last)

    final = ctx.out / "model"
    unwrapped = accelerator.unwrap_model(model)
    unwrapped.save_pretrained(final, safe_serialization=True)
    tokenizer.model_max_length = cfg.seq_len
    tokenizer.save_pretrained(final)
    evals = [r for r in history if "eval_loss" in r]
    summary = {"parameters": n_params, "steps": cfg.max_steps, "real_tokens": real_tokens,
               "wall_time_s": round(time.perf_counter() - start, 2),
               "final_train_loss": next(r["loss"] for r in reversed(history) if "loss" in r),
               "final_eval_loss": evals[-1]["eval_loss"] if evals else None,
               "final_eval_perplexity": evals[-1]["eval_perplexity"] if evals else None,
               "global_batch": cfg.batch_size * cfg.grad_accum * accelerator.num_processes,
               "data": {"train": train_stats, "validation": val_stats}}
    meta.write_json(ctx.out / "train_summary.json", summary)
    return summary
