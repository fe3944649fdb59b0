"""The pretrain stage: pack the corpus, then train a masked language model (new or continued).

Reads top to bottom: ``run`` sets up (accelerator, tokenizer, model, packed data, optimiser, resume),
runs the loop (``pretrain.loop``) and finishes (model, tokenizer, summary, curves). Held-out loss uses
a fixed masking seed so that the numbers are comparable from one evaluation to the next. An
interrupted run (killed, or stopped by its time budget) resumes from its latest checkpoint and
reproduces the losses of an uninterrupted run.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import torch
from accelerate import Accelerator
from accelerate.state import AcceleratorState
from accelerate.utils import DistributedType, set_seed
from transformers import AutoTokenizer, get_linear_schedule_with_warmup

from medforge import log, meta, paths
from medforge.corpus.store import split_files
from medforge.data.batches import BatchStream
from medforge.data.collator import MLMCollator
from medforge.data.loader import Feed, default_workers
from medforge.data.pack import PACK_WORK, build_packed, load_packed, tokenize_split
from medforge.errors import ConfigError
from medforge.models.flops import flops_per_token, peak_tflops
from medforge.pretrain.carbon import Emissions
from medforge.pretrain.checkpoint import is_sharded, latest_checkpoint, load_checkpoint, save_model
from medforge.pretrain.config import PretrainConfig
from medforge.pretrain.history import History
from medforge.pretrain.loop import Session, TimeBudgetReached, train
from medforge.pretrain.objective import build_objective, encoder_parameters, param_groups
from medforge.pretrain.plots import FILENAME as CURVES
from medforge.pretrain.plots import plot_history
from medforge.stage import StageContext
from medforge.tokenizer.special import check_special_tokens

logger = log.get("pretrain")
__all__ = ["run", "TimeBudgetReached"]


def run(cfg: PretrainConfig, ctx: StageContext) -> dict:
    started = time.perf_counter()
    session, setup = set_up(cfg, ctx, started)
    emissions = Emissions(cfg.carbon_country, enabled=session.main)
    setup["model"].train()
    train(session)
    return finish(session, setup, emissions)


def make_accelerator(cfg: PretrainConfig) -> Accelerator:
    cuda = torch.cuda.is_available()
    if cfg.precision == "fp16" and not cuda:
        raise ConfigError("'pretrain.precision' fp16 needs a GPU; use bf16 or fp32 on a CPU")
    # AcceleratorState is a per-process singleton: a second stage run in the same process (a notebook,
    # the tests) with another precision would be refused. The process group (PartialState) is kept.
    AcceleratorState._reset_state(reset_partial_state=False)
    return Accelerator(cpu=not cuda, mixed_precision="no" if cfg.precision == "fp32" else cfg.precision)


def set_up(cfg: PretrainConfig, ctx: StageContext, started: float) -> tuple[Session, dict]:
    """The prepared session, and what the summary reports about the set-up."""
    accelerator = make_accelerator(cfg)
    world = accelerator.num_processes
    accum, max_steps = schedule(cfg, world)
    # accelerate's accumulate() skips the gradient all-reduce on all but the last micro-batch of a step
    # (and drives DeepSpeed's own accumulation)
    accelerator.gradient_accumulation_steps = accum
    if accelerator.distributed_type == DistributedType.DEEPSPEED:
        # no DataLoader goes through prepare(): DeepSpeed is told the batch, and clips inside its step
        accelerator.state.deepspeed_plugin.deepspeed_config.update(
            train_micro_batch_size_per_gpu=cfg.batch_size, gradient_accumulation_steps=accum,
            gradient_clipping=cfg.max_grad_norm, train_batch_size=cfg.batch_size * accum * world)
    set_seed(ctx.seed)
    tokenizer_dir = paths.model_ref(cfg.tokenizer, "tokenizer") if cfg.tokenizer else ctx.need("tokenizer")
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    check_special_tokens(tokenizer, str(tokenizer_dir))

    # the model first: a wrong init_from, vocabulary or seq_len fails before minutes of packing
    loaded: dict = {}
    objective, described = build_objective(cfg, tokenizer, loaded)
    model: Any = objective.model  # a transformers *ForMaskedLM
    data = packed_data(cfg, ctx, tokenizer, accelerator)
    logger.info("%s %d train sequences of %d tokens (%.2f%% padding), %d validation sequences",
                "reused the packed" if data["train_stats"].get("reused") else "packed",
                data["train_stats"]["sequences"],
                cfg.seq_len, 100 * data["train_stats"]["padding_fraction"], len(data["validation"]))

    if cfg.gradient_checkpointing:  # renamed in transformers 5
        (getattr(model, "activation_checkpointing_enable", None) or model.gradient_checkpointing_enable)()
    if cfg.compile:  # the encoder only: the sparse head's gather has data-dependent shapes
        model.base_model.compile()
    n_params = sum(p.numel() for p in model.parameters())
    logger.info("model: %s, %.2fM parameters; %d steps of %d sequences (%d per process x %d accumulation x %d "
                "processes)", described, n_params / 1e6, max_steps, cfg.batch_size * accum * world, cfg.batch_size,
                accum, world)
    frozen = encoder_parameters(model) if cfg.head_warmup_steps else []
    if frozen and is_sharded(accelerator):
        raise ConfigError("'pretrain.head_warmup_steps' needs unsharded parameters (DDP or one process), not "
                          "FSDP/DeepSpeed")
    # fused: one kernel for the whole update on a GPU (not on the CPU, where it is not faster)
    optimizer = torch.optim.AdamW(param_groups(model, cfg.weight_decay), lr=cfg.learning_rate,
                                  betas=(cfg.adam_betas[0], cfg.adam_betas[1]), eps=cfg.adam_eps,
                                  fused=accelerator.device.type == "cuda")
    scheduler = get_linear_schedule_with_warmup(optimizer, cfg.warmup_steps, max_steps)
    if cfg.distill.teacher:
        objective.teacher.to(accelerator.device)
    objective, optimizer = accelerator.prepare(objective, optimizer)

    # resume (after prepare: sharded optimizer state is loaded into the prepared objects)
    state: dict[str, Any] = {"step": 0, "position": 0, "phase": "long", "real_tokens": 0}
    checkpoint = latest_checkpoint(ctx.out) if cfg.resume else None
    if checkpoint is not None:
        state = load_checkpoint(checkpoint, accelerator, objective, optimizer, scheduler)
        logger.info("resuming from %s (step %d, sequence %d of the data stream)", checkpoint.name, state["step"],
                    state["position"])

    streams, switch = batch_streams(cfg, data, tokenizer, ctx.seed, accelerator, max_steps, state)
    workers = default_workers() if cfg.data_workers < 0 else cfg.data_workers
    feeds = {name: Feed(stream, workers, pin_memory=torch.cuda.is_available()) for name, stream in streams.items()}
    head_share = cfg.mlm_probability if cfg.sparse_head else 1.0
    # attention FLOPs grow with the sequence: the short phase has its own count
    phase_flops = {"long": flops_per_token(model, cfg.seq_len, head_share),
                   "short": flops_per_token(model, cfg.short_seq_len, head_share) if switch else None}
    session = Session(
        cfg=cfg, out=ctx.out, seed=ctx.seed, accelerator=accelerator, tokenizer=tokenizer, objective=objective,
        optimizer=optimizer, scheduler=scheduler, streams=streams, feeds=feeds, validation=data["validation"],
        accum=accum,
        max_steps=max_steps, switch=switch, phase_flops=phase_flops, peak=peak_tflops(cfg.precision, cfg.peak_tflops),
        frozen=frozen, started=started, step=state["step"],
        tokens=torch.tensor(float(state["real_tokens"]), dtype=torch.float64, device=accelerator.device),
        # training time and attempts add up over the attempts that led to the checkpoint resumed from
        earlier_wall=state.get("wall_time_s", 0.0), attempt=state.get("attempts", 0) + 1,
        history=History(ctx.out / "metrics.jsonl", state["step"], ctx.out / "tensorboard" if cfg.tensorboard else None)
        if accelerator.is_main_process else None)
    return session, {"described": described, "parameters": n_params, "loaded": loaded, "data": data,
                     "resumed_from_step": state["step"] or None, "model": model}


def batch_streams(cfg: PretrainConfig, data: dict, tokenizer, seed: int, accelerator, max_steps: int,
                  state: dict) -> tuple[dict[str, BatchStream], int]:
    """One stream per phase of the short-then-long schedule (the step says which phase it is), positioned
    where the checkpoint left off; and the short phase's last step (0: none)."""
    switch = round(cfg.short_fraction * max_steps) if cfg.short_seq_len else 0
    collator = MLMCollator(tokenizer, cfg.mlm_probability, cfg.mask_replace_prob, cfg.random_replace_prob,
                           whole_word=cfg.whole_word_mask)
    phases = {"long": data["train"], **({"short": data["short"]} if switch else {})}
    streams = {name: BatchStream(ds, cfg.batch_size, collator, seed, 0, accelerator.process_index,
                                 accelerator.num_processes) for name, ds in phases.items()}
    if switch:
        logger.info("sequence-length schedule: steps 1-%d at %d tokens, then %d", switch, cfg.short_seq_len,
                    cfg.seq_len)
    streams[state.get("phase", "long")].position = state["position"]
    return streams, switch


def finish(s: Session, setup: dict, emissions: Emissions) -> dict:
    """The trained model and its tokenizer as a standard folder, the summary and the training curves."""
    cfg, final = s.cfg, s.out / "model"
    save_model(s.accelerator, s.objective, final)
    if not s.main:
        return {}
    carbon = emissions.stop()
    s.history.close()
    s.tokenizer.model_max_length = cfg.seq_len
    s.tokenizer.save_pretrained(final)
    rows, data, world = s.history.rows, setup["data"], s.world
    evals = [r for r in rows if "eval_loss" in r]
    logged = [r for r in rows if "tokens_per_s" in r]
    steady = logged[1:] or logged  # the first window holds the warm-up
    summary = {"parameters": setup["parameters"], "steps": s.max_steps, "real_tokens": s.real_tokens,
               "flops_per_token": s.phase_flops["long"], "peak_tflops": s.peak,
               "tokens_per_s": sum(r["tokens_per_s"] for r in steady) / max(len(steady), 1),
               "tflops": sum(r["tflops"] for r in steady) / max(len(steady), 1),
               "resumed_from_step": setup["resumed_from_step"],
               "wall_time_s": round(s.wall_time(), 2), "attempts": s.attempt,
               "last_attempt_wall_time_s": round(time.perf_counter() - s.started, 2),
               "head": setup["loaded"].get("head"), "vocabulary_checked": setup["loaded"].get("vocabulary_checked"),
               "final_train_loss": next(r["loss"] for r in reversed(rows) if "loss" in r),
               "final_eval_loss": evals[-1]["eval_loss"] if evals else None,
               "final_eval_perplexity": evals[-1]["eval_perplexity"] if evals else None,
               "global_batch": cfg.batch_size * s.accum * world, "grad_accum": s.accum, "processes": world,
               "hardware": f"{world} x {meta.hardware()}",
               "data": {"train": data["train_stats"], "validation": data["validation_stats"],
                        **({"train_short": data["short_stats"]} if cfg.short_seq_len else {})},
               "schedule": {"short_seq_len": cfg.short_seq_len, "short_steps": s.switch} if s.switch else None,
               "emissions": carbon,
               "distill": {"teacher": cfg.distill.teacher, "teacher_parameters":
                           sum(p.numel() for p in s.accelerator.unwrap_model(s.objective).teacher.parameters()),
                           "note": "FLOPs and MFU count the student only, not the teacher's forward pass"}
               if cfg.distill.teacher else None}
    summary["mfu"] = summary["tflops"] / (s.peak * world) if s.peak else None
    meta.write_json(s.out / "train_summary.json", summary)
    plot_history(rows, s.out / CURVES, setup["described"])
    return summary


def schedule(cfg: PretrainConfig, world: int) -> tuple[int, int]:
    """(gradient accumulation, optimizer steps) for this number of processes."""
    accum = cfg.grad_accum
    if cfg.global_batch:
        per_pass = cfg.batch_size * world
        if cfg.global_batch % per_pass:
            raise ConfigError(f"'pretrain.global_batch' {cfg.global_batch} is not divisible by batch_size "
                              f"{cfg.batch_size} x {world} process(es) = {per_pass}; change one of them")
        accum = cfg.global_batch // per_pass
    steps = cfg.max_steps
    if cfg.max_tokens:
        steps = math.ceil(cfg.max_tokens / (cfg.batch_size * world * accum * cfg.seq_len))
    return accum, steps


def tokenize_part(cfg: PretrainConfig, run_dir: Path, corpus: Path, tokenizer_dir: str | Path, part: int,
                  parts: int) -> dict:
    """Tokenize share ``part`` of ``parts`` of the corpus's shard files for packing (one SLURM array task's
    share: every parts-th file of the train then validation files) into the run's pack-work folder, where the
    pre-training stage finds and reuses them."""
    if not 0 <= part < parts:
        raise ConfigError(f"--pack-part {part}/{parts}: the part must be in 0..{parts - 1}")
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    check_special_tokens(tokenizer, str(tokenizer_dir))
    t0 = time.perf_counter()
    files, first = {}, 0
    for split in ("train", "validation"):
        count = len(split_files(corpus, split))
        share = {i for i in range(count) if (first + i) % parts == part}
        first += count
        files[split] = len(tokenize_split(corpus, split, tokenizer, run_dir / PACK_WORK / split, cfg.packing,
                                          cfg.pack_workers, only=share)) if share else 0
    return {"files": files, "seconds": round(time.perf_counter() - t0, 1), "work": str(run_dir / PACK_WORK)}


def packed_data(cfg: PretrainConfig, ctx, tokenizer, accelerator) -> dict:
    """Train and validation sequences (and the short phase's, if scheduled), packed once by the main
    process; the other processes read what it wrote."""
    corpus = ctx.need("prepare")
    jobs = {"train": (cfg.seq_len, "packed", "train"), "validation": (cfg.seq_len, "packed", "validation")}
    if cfg.short_seq_len:
        jobs["short"] = (cfg.short_seq_len, f"packed-{cfg.short_seq_len}", "train")
    data = {}
    if accelerator.is_main_process:
        for name, (length, folder, split) in jobs.items():
            data[name], data[f"{name}_stats"] = build_packed(corpus, split, tokenizer, length, ctx.out / folder,
                                                             cfg.packing, cfg.pack_workers, cfg.pack_ray,
                                                             Path(ctx.run_dir) / PACK_WORK / split)
    accelerator.wait_for_everyone()
    if not accelerator.is_main_process:
        for name, (length, folder, split) in jobs.items():
            data[name], data[f"{name}_stats"] = load_packed(ctx.out / folder, split, length)
    columns = ["input_ids", "starts"] if cfg.whole_word_mask else ["input_ids"]
    for name in jobs:
        data[name] = data[name].select_columns(columns)
    return data
