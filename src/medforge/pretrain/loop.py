"""The pre-training loop: optimizer steps over the batch streams, with logging, held-out evaluation,
checkpoints and the time budget.

A step accumulates ``accum`` micro-batches. Its loss is the token mean over the whole global batch
(every process and micro-batch), exactly as one process with one big batch computes it, so the
numbers do not depend on how the batch is split. Everything the loop changes lives on the
``Session``: a checkpoint written at any step holds the same state an uninterrupted run had there.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from medforge import log
from medforge.data.batches import BatchStream
from medforge.data.loader import Feed
from medforge.errors import MedforgeError
from medforge.pretrain.checkpoint import save_checkpoint
from medforge.pretrain.config import PretrainConfig
from medforge.pretrain.evaluation import evaluate_mlm
from medforge.pretrain.history import Meter
from medforge.progress import bar

logger = log.get("pretrain")


class TimeBudgetReached(MedforgeError):
    """The wall-clock budget ran out; a checkpoint was written and a rerun resumes from it."""

    exit_code = 3  # distinct, so that a job script can requeue on it


@dataclass
class Session:
    """A prepared run (``pretrain.stage.set_up``): the prepared objective and optimiser, the streams, and
    the counters that checkpoints carry."""

    cfg: PretrainConfig
    out: Path
    seed: int
    accelerator: Any  # accelerate.Accelerator
    tokenizer: Any
    objective: torch.nn.Module  # prepared: DDP/FSDP/DeepSpeed-wrapped where launched so
    optimizer: torch.optim.Optimizer
    scheduler: Any
    streams: dict[str, BatchStream]  # "long", and "short" for the short-then-long schedule
    feeds: dict[str, Feed]  # the same streams, read through their DataLoader workers
    validation: Any  # the packed held-out sequences (a datasets.Dataset)
    accum: int
    max_steps: int
    switch: int  # the short phase's last step (0: no short phase)
    phase_flops: dict[str, float | None]
    peak: float | None
    frozen: list = field(default_factory=list)  # parameters kept still during the head warm-up
    history: Any = None  # the main process's History (None on the others)
    started: float = 0.0  # this attempt's start (perf_counter)
    earlier_wall: float = 0.0  # training time of the attempts before, up to the checkpoint resumed from
    attempt: int = 1
    step: int = 0  # the last finished step
    tokens: Any = None  # real tokens trained on, over all processes: a device tensor, read when needed

    @property
    def real_tokens(self) -> int:
        return int(self.tokens.item())

    @property
    def main(self) -> bool:
        return self.accelerator.is_main_process

    @property
    def world(self) -> int:
        return self.accelerator.num_processes

    def phase(self, step: int) -> str:
        return "short" if step <= self.switch else "long"

    def wall_time(self) -> float:
        return self.earlier_wall + time.perf_counter() - self.started

    def save(self, step: int) -> None:
        stream = self.streams[self.phase(step)]
        save_checkpoint(self.out, step, self.accelerator, self.objective, self.optimizer, self.scheduler,
                        {"step": step, "position": stream.position, "phase": self.phase(step), "epoch": stream.epoch,
                         "real_tokens": self.real_tokens, "seed": self.seed, "processes": self.world,
                         "attempts": self.attempt, "wall_time_s": round(self.wall_time(), 3)},
                        keep_last=self.cfg.keep_last)


def train(s: Session) -> None:
    """Steps ``s.step + 1`` to ``s.max_steps``; raises ``TimeBudgetReached`` (after a checkpoint) when
    ``max_minutes`` runs out first."""
    cfg = s.cfg
    meter = Meter()
    progress = bar(range(s.step + 1, s.max_steps + 1), desc="pretrain", unit="step", initial=s.step,
                   total=s.max_steps)
    for step in progress:
        stream = s.streams[s.phase(step)]
        loss, grad_norm = optimizer_step(s, step, s.feeds[s.phase(step)], meter)
        last = step == s.max_steps
        # the loss and norm stay on the device between logged steps: no host-device synchronisation per
        # step (a GPU would wait for each); a non-finite loss is caught at the next log or checkpoint
        if step % cfg.log_every == 0 or step % cfg.save_every == 0 or last:
            value = float(loss)
            if not math.isfinite(value):
                raise MedforgeError(f"training loss became {value} by step {step}; lower 'pretrain.learning_rate' "
                                    f"(now {cfg.learning_rate}) or raise warmup")
            progress.set_postfix(loss=f"{value:.3f}")
        if s.main and (step % cfg.log_every == 0 or last):
            record_step(s, step, float(loss), None if grad_norm is None else float(grad_norm), stream.epoch,
                        meter.read())
        if (step % cfg.eval_every == 0 or last) and len(s.validation):
            row = {"step": step, **evaluate_mlm(s.objective, s.validation, s.tokenizer, cfg, s.seed, s.accelerator)}
            if s.main:
                s.history.add(row)
                logger.info("step %d: held-out loss %.4f, perplexity %.2f", step, row["eval_loss"],
                            row["eval_perplexity"])
        if step % cfg.save_every == 0 or last:
            s.save(step)
        s.step = step
        if not last and out_of_time(s):
            if step % cfg.save_every:
                s.save(step)
            raise TimeBudgetReached(f"time budget of {cfg.max_minutes} min reached at step {step}/{s.max_steps}; "
                                    "a checkpoint is saved: run the same command again to resume")


def optimizer_step(s: Session, step: int, feed: Feed, meter: Meter) -> tuple[torch.Tensor, torch.Tensor | None]:
    """One optimizer step over ``accum`` micro-batches; returns (the step's loss, the gradient norm) as
    device tensors."""
    accelerator, world, accum = s.accelerator, s.world, s.accum
    # all micro-batches first (masks are drawn on the host), so that one all-reduce gives the step's target
    # count and real tokens over every process and micro-batch (counts in float64: exact)
    host = [next(feed) for _ in range(accum)]
    # Packed rows hold no padding (a split's last row aside): told so on the host, the encoder gets no mask,
    # so transformers does not test an all-ones mask on the device (a synchronisation per forward, a graph
    # break under torch.compile) and SDPA may take its flash kernel
    padded = [bool((b["attention_mask"] == 0).any()) for b in host]
    # data workers hand batches over as int32 (one block): widened on the device, where it costs nothing
    batches = [{k: v.to(accelerator.device, non_blocking=True).long() for k, v in b.items()} for b in host]
    local = torch.stack([sum((b["labels"] != -100).sum() for b in batches),
                         sum(b["attention_mask"].sum() for b in batches)]).double()
    totals = accelerator.reduce(local, "sum")
    targets, real = totals[0].clamp(min=1), totals[1]
    # gradients are averaged over processes and divided by the accumulation in backward: this scale makes
    # the result the token mean of the whole global batch (a batch without any target adds nothing)
    scale = ((world * accum) / targets).float()
    loss_sum = torch.zeros((), device=accelerator.device)
    for batch, pad in zip(batches, padded):
        with accelerator.accumulate(s.objective):
            mask = batch["attention_mask"] if pad else None
            total, _ = s.objective(input_ids=batch["input_ids"], attention_mask=mask, labels=batch["labels"])
            accelerator.backward(total * scale)
        loss_sum += total.detach()
    loss = accelerator.reduce(loss_sum, "sum").double() / targets
    s.tokens += real
    meter.add(real, real * s.phase_flops[s.phase(step)], local[1], sum(b["attention_mask"].numel() for b in batches))
    if step <= s.cfg.head_warmup_steps:  # AdamW leaves a parameter without a gradient untouched (no decay)
        for param in s.frozen:
            param.grad = None
    norm = accelerator.clip_grad_norm_(s.objective.parameters(), s.cfg.max_grad_norm
                                       if s.cfg.max_grad_norm > 0 else float("inf"))
    s.optimizer.step()
    s.scheduler.step()
    s.optimizer.zero_grad(set_to_none=True)
    return loss, norm  # DeepSpeed may not report the norm (None)


def record_step(s: Session, step: int, loss: float, grad_norm: float | None, epoch: int, rates: dict) -> None:
    objective = s.accelerator.unwrap_model(s.objective)
    s.history.add({"step": step, "loss": loss, "lr": s.scheduler.get_last_lr()[0], "grad_norm": grad_norm,
                   "tokens_per_s": rates["tokens_per_s"], "tflops": rates["tflops"],
                   "mfu": rates["tflops"] / (s.peak * s.world) if s.peak else None,
                   "padding_fraction": rates["padding_fraction"], "real_tokens": s.real_tokens, "epoch": epoch,
                   **{f"distill_{k}": float(v) for k, v in getattr(objective, "last", {}).items()}})
    logger.info("step %d/%d: loss %.4f, lr %.2e, %.0f tokens/s", step, s.max_steps, loss,
                s.history.rows[-1]["lr"], rates["tokens_per_s"])


def out_of_time(s: Session) -> bool:
    """Whether the budget ran out; every process stops at the same step, on the main process's clock."""
    if not s.cfg.max_minutes:
        return False
    mine = s.main and time.perf_counter() - s.started > 60 * s.cfg.max_minutes
    return bool(s.accelerator.reduce(torch.tensor([float(mine)], device=s.accelerator.device), "sum").item())
