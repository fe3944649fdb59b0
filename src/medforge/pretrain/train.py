"""The pretrain stage: pack the corpus, then train a masked language model (new or continued).

Reads top to bottom: data, model, optimiser, resume, loop. The loop counts optimizer steps; each
step accumulates ``grad_accum`` micro-batches. Held-out loss uses a fixed masking seed so that
the numbers are comparable from one evaluation to the next. An interrupted run (killed, or
stopped by its time budget) resumes from its latest checkpoint and reproduces the losses of
an uninterrupted run.
"""

from __future__ import annotations

import json
import math
import time

import torch
from accelerate import Accelerator
from accelerate.state import AcceleratorState
from accelerate.utils import DistributedType, set_seed
from transformers import AutoTokenizer, get_linear_schedule_with_warmup

from medforge import log, meta, paths
from medforge.data.batches import BatchStream, sequence_seed
from medforge.data.collator import MLMCollator
from medforge.data.pack import build_packed, load_packed
from medforge.errors import ConfigError, MedforgeError
from medforge.models.flops import flops_per_token, peak_tflops
from medforge.models.distill import DistillMLM, default_layer_map, student_from_teacher
from medforge.models.mlm import SparseMLM, head_of
from medforge.models.presets import build_mlm, load_mlm
from medforge.pretrain.carbon import Emissions
from medforge.pretrain.checkpoint import is_sharded, latest_checkpoint, load_checkpoint, save_checkpoint, save_model
from medforge.pretrain.config import PretrainConfig
from medforge.pretrain.plots import FILENAME as CURVES, plot_history
from medforge.progress import bar
from medforge.tokenizer.special import check_special_tokens

logger = log.get("pretrain")


class TimeBudgetReached(MedforgeError):
    """The wall-clock budget ran out; a checkpoint was written and a rerun resumes from it."""

    exit_code = 3  # distinct, so that a job script can requeue on it


def param_groups(model, weight_decay: float) -> list[dict]:
    """No weight decay on biases and LayerNorm weights (decaying them only hurts)."""
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        (no_decay if param.ndim < 2 else decay).append(param)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


@torch.no_grad()
def evaluate_mlm(objective, dataset, tokenizer, cfg: PretrainConfig, seed: int, accelerator) -> dict:
    """Mean MLM loss over all masked tokens of the held-out split, and its perplexity.

    Every process scores its share of the batches (collective: sharded models need all of them);
    the sums are reduced, so the result does not depend on the number of processes. No DataLoader
    here: its iterator draws a seed from the global RNG, which would shift the training run's
    dropout and make a resumed run differ from an uninterrupted one.
    """
    objective.eval()
    collator = MLMCollator(tokenizer, cfg.mlm_probability, cfg.mask_replace_prob, cfg.random_replace_prob,
                           whole_word=cfg.whole_word_mask)
    sums = torch.zeros(2, dtype=torch.float64, device=accelerator.device)
    stride = cfg.batch_size * accelerator.num_processes
    for start in range(cfg.batch_size * accelerator.process_index, len(dataset), stride):
        rows = dataset[start:start + cfg.batch_size]
        examples = [dict(zip(rows, values)) for values in zip(*rows.values())]
        # each held-out sequence always gets the same mask, whatever the batch size (epoch -1: never
        # one of training's)
        batch = collator(examples, seeds=[sequence_seed(seed, -1, start + i) for i in range(len(examples))])
        total, count = objective(**{k: v.to(accelerator.device) for k, v in batch.items()})
        sums += torch.stack([total.double(), count.double()])
    objective.train()
    total, count = accelerator.reduce(sums, "sum").tolist()
    mean = total / max(count, 1)
    return {"eval_loss": mean, "eval_perplexity": math.exp(min(mean, 50.0)), "eval_tokens": int(count)}


def build_objective(cfg: PretrainConfig, tokenizer, report: dict) -> tuple[torch.nn.Module, str]:
    """The model to train wrapped in its objective (sparse MLM, or distillation from a teacher); ``report``
    receives what loading found (a missing MLM head)."""
    d = cfg.distill
    if not d.teacher:
        model, described = build_model(cfg, tokenizer, report)
        return SparseMLM(model, cfg.sparse_head), described
    loaded: dict = {}
    teacher = load_mlm(paths.model_ref(d.teacher), tokenizer, cfg.seq_len, loaded)
    if loaded["missing_head"]:
        raise ConfigError(f"'pretrain.distill.teacher' {d.teacher} has no trained MLM head "
                          f"({', '.join(loaded['missing_head'][:3])} missing): it would teach random outputs")
    depth = teacher.config.num_hidden_layers
    if d.student_preset:
        # build_mlm refuses a family it does not know (an xlm-roberta teacher, say) with a clear error
        student = build_mlm(teacher.config.model_type, d.student_preset, tokenizer, cfg.seq_len, cfg.model.dropout)
        layer_map = d.layer_map or default_layer_map(depth, student.config.num_hidden_layers)
    else:
        layer_map = d.layer_map or default_layer_map(depth, d.student_layers or max(depth // 2, 1))
        if max(layer_map) >= depth:
            raise ConfigError(f"'pretrain.distill.layer_map' {layer_map} names a layer the {depth}-layer teacher lacks")
        student = student_from_teacher(teacher, layer_map, cfg.model.dropout)
    objective = DistillMLM(student, teacher, d.temperature, d.kl_weight, d.mlm_weight, d.align, d.align_weight,
                           layer_map)
    return objective, (f"student of {student.config.num_hidden_layers} layers distilled from {d.teacher} "
                       f"({depth} layers; map {layer_map})")


def encoder_parameters(model) -> list[torch.nn.Parameter]:
    """Everything but the MLM head's own weights (the decoder tied to the input embeddings counts as
    encoder): what ``head_warmup_steps`` freezes."""
    head_only = {p.data_ptr() for p in head_of(model).parameters()} - \
        {p.data_ptr() for p in model.base_model.parameters()}
    return [p for p in model.parameters() if p.data_ptr() not in head_only]


def build_model(cfg: PretrainConfig, tokenizer, report: dict):
    if cfg.model.init_from:
        model = load_mlm(paths.model_ref(cfg.model.init_from), tokenizer, cfg.seq_len, report)
        missing = report.pop("missing_head")
        if missing:
            report["head"] = {"missing": missing, "head_warmup_steps": cfg.head_warmup_steps,
                              "initialised": "identity transform, zero output bias, decoder tied to the input "
                                             "embeddings"}
            logger.warning("%s has no trained MLM head (%d weights missing, e.g. %s): the new head starts as an "
                           "identity transform onto the tied input embeddings%s", cfg.model.init_from, len(missing),
                           missing[0],
                           f" and trains alone for {cfg.head_warmup_steps} steps" if cfg.head_warmup_steps
                           else "; consider pretrain.head_warmup_steps")
        return model, f"continued from {cfg.model.init_from}"
    return build_mlm(cfg.model.family, cfg.model.preset, tokenizer, cfg.seq_len, cfg.model.dropout), \
        f"new {cfg.model.family}-{cfg.model.preset}"


class History:
    """metrics.jsonl (and TensorBoard event files, if asked), cut back to the resumed step so that
    they read as one uninterrupted run."""

    def __init__(self, path, resumed_step: int, tensorboard_dir=None):
        self.path = path
        self.writer = None
        if tensorboard_dir is not None:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:
                raise ConfigError("pretrain.tensorboard needs tensorboard: pip install tensorboard "
                                  "(or medforge[tb])") from None
            # purge_step: TensorBoard drops what an interrupted attempt logged after the checkpoint
            self.writer = SummaryWriter(str(tensorboard_dir), purge_step=resumed_step + 1 if resumed_step else None)
        kept = []
        if resumed_step and path.exists():
            kept = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
            kept = [row for row in kept if row["step"] <= resumed_step]
        self.rows = kept
        path.write_text("".join(json.dumps(r) + "\n" for r in kept), encoding="utf-8")

    def add(self, row: dict) -> None:
        self.rows.append(row)
        with self.path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(row) + "\n")
        if self.writer is not None:
            for key, value in row.items():
                if key != "step" and isinstance(value, (int, float)):
                    self.writer.add_scalar(key, value, row["step"])

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


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
                                                             cfg.packing)
    accelerator.wait_for_everyone()
    if not accelerator.is_main_process:
        for name, (length, folder, split) in jobs.items():
            data[name], data[f"{name}_stats"] = load_packed(ctx.out / folder, split, length)
    columns = ["input_ids", "starts"] if cfg.whole_word_mask else ["input_ids"]
    for name in jobs:
        data[name] = data[name].select_columns(columns)
    return data


def run(cfg: PretrainConfig, ctx) -> dict:
    started = time.perf_counter()
    cuda = torch.cuda.is_available()
    if cfg.precision == "fp16" and not cuda:
        raise ConfigError("'pretrain.precision' fp16 needs a GPU; use bf16 or fp32 on a CPU")
    # AcceleratorState is a per-process singleton: a second stage run in the same process (a notebook,
    # the tests) with another precision would be refused. The process group (PartialState) is kept.
    AcceleratorState._reset_state(reset_partial_state=False)
    accelerator = Accelerator(cpu=not cuda, mixed_precision="no" if cfg.precision == "fp32" else cfg.precision)
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

    main = accelerator.is_main_process
    # the model first: a wrong init_from, vocabulary or seq_len fails before minutes of packing
    loaded: dict = {}
    objective, described = build_objective(cfg, tokenizer, loaded)
    model = objective.model
    data = packed_data(cfg, ctx, tokenizer, accelerator)
    train_ds, val_ds, train_stats, val_stats = data["train"], data["validation"], data["train_stats"], \
        data["validation_stats"]
    logger.info("%s %d train sequences of %d tokens (%.2f%% padding), %d validation sequences",
                "reused the packed" if train_stats.get("reused") else "packed", train_stats["sequences"], cfg.seq_len,
                100 * train_stats["padding_fraction"], len(val_ds))

    # model and optimiser
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
    optimizer = torch.optim.AdamW(param_groups(model, cfg.weight_decay), lr=cfg.learning_rate,
                                  betas=tuple(cfg.adam_betas), eps=cfg.adam_eps)
    scheduler = get_linear_schedule_with_warmup(optimizer, cfg.warmup_steps, max_steps)
    collator = MLMCollator(tokenizer, cfg.mlm_probability, cfg.mask_replace_prob, cfg.random_replace_prob,
                           whole_word=cfg.whole_word_mask)

    if cfg.distill.teacher:
        objective.teacher.to(accelerator.device)
    objective, optimizer = accelerator.prepare(objective, optimizer)

    # resume (after prepare: sharded optimizer state is loaded into the prepared objects)
    state = {"step": 0, "position": 0, "phase": "long", "real_tokens": 0}
    checkpoint = latest_checkpoint(ctx.out) if cfg.resume else None
    if checkpoint is not None:
        state = load_checkpoint(checkpoint, accelerator, objective, optimizer, scheduler)
        logger.info("resuming from %s (step %d, sequence %d of the data stream)", checkpoint.name, state["step"],
                    state["position"])
    # training time and attempts add up over the attempts that led to the checkpoint resumed from
    earlier_wall, attempt = state.get("wall_time_s", 0.0), state.get("attempts", 0) + 1
    # the short-then-long schedule: one stream per phase; the step says which phase it is
    switch = round(cfg.short_fraction * max_steps) if cfg.short_seq_len else 0
    streams = {"long": BatchStream(train_ds, cfg.batch_size, collator, ctx.seed, 0, accelerator.process_index, world)}
    if switch:
        streams["short"] = BatchStream(data["short"], cfg.batch_size, collator, ctx.seed, 0, accelerator.process_index,
                                       world)
        logger.info("sequence-length schedule: steps 1-%d at %d tokens, then %d", switch, cfg.short_seq_len,
                    cfg.seq_len)
    streams[state.get("phase", "long")].position = state["position"]
    history = History(ctx.out / "metrics.jsonl", state["step"],
                      ctx.out / "tensorboard" if cfg.tensorboard else None) if main else None
    head_share = cfg.mlm_probability if cfg.sparse_head else 1.0
    # attention FLOPs grow with the sequence: the short phase has its own count
    phase_flops = {"long": flops_per_token(model, cfg.seq_len, head_share),
                   "short": flops_per_token(model, cfg.short_seq_len, head_share) if switch else None}
    per_token = phase_flops["long"]
    peak = peak_tflops(cfg.precision, cfg.peak_tflops)

    def phase(step: int) -> str:
        return "short" if step <= switch else "long"

    def save(step: int) -> None:
        stream = streams[phase(step)]
        save_checkpoint(ctx.out, step, accelerator, objective, optimizer, scheduler,
                        {"step": step, "position": stream.position, "phase": phase(step), "epoch": stream.epoch,
                         "real_tokens": real_tokens, "seed": ctx.seed, "processes": world, "attempts": attempt,
                         "wall_time_s": round(earlier_wall + time.perf_counter() - started, 3)},
                        keep_last=cfg.keep_last)

    # loop
    emissions = Emissions(cfg.carbon_country, enabled=main)
    model.train()
    real_tokens = state["real_tokens"]
    window_tokens, window_flops, window_slots, window_real, window_start = 0, 0.0, 0, 0, time.perf_counter()
    progress = bar(range(state["step"] + 1, max_steps + 1), desc="pretrain", unit="step",
                   initial=state["step"], total=max_steps)
    for step in progress:
        stream = streams[phase(step)]
        # all micro-batches first (masks are drawn on the host), so that one all-reduce gives the step's
        # target count and real tokens over every process and micro-batch
        batches = [{k: v.to(accelerator.device) for k, v in next(stream).items()} for _ in range(accum)]
        local = torch.stack([sum((b["labels"] != -100).sum() for b in batches).float(),
                             sum(b["attention_mask"].sum() for b in batches).float()])
        targets, real = accelerator.reduce(local, "sum").tolist()
        loss_sum = torch.zeros((), device=accelerator.device)
        for batch in batches:
            with accelerator.accumulate(objective):
                total, _ = objective(**batch)
                # gradients are averaged over processes and divided by the accumulation in backward:
                # this scale makes the result the token mean of the whole global batch, exactly as one
                # process with one big batch computes it (a batch without any target adds nothing)
                accelerator.backward(total * (world * accum / max(targets, 1)))
            loss_sum += total.detach()
        step_loss = float(accelerator.reduce(loss_sum, "sum")) / max(targets, 1)
        real_tokens += int(real)
        window_tokens += int(real)
        window_flops += real * phase_flops[phase(step)]
        window_real += int(local[1])
        window_slots += sum(b["attention_mask"].numel() for b in batches)
        if not math.isfinite(step_loss):
            raise MedforgeError(f"training loss became {step_loss} at step {step}; lower "
                                f"'pretrain.learning_rate' (now {cfg.learning_rate}) or raise warmup")
        if step <= cfg.head_warmup_steps:  # AdamW leaves a parameter without a gradient untouched (no decay)
            for param in frozen:
                param.grad = None
        norm = accelerator.clip_grad_norm_(objective.parameters(), cfg.max_grad_norm
                                           if cfg.max_grad_norm > 0 else float("inf"))
        grad_norm = float(norm) if norm is not None else None  # DeepSpeed may not report it
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        progress.set_postfix(loss=f"{step_loss:.3f}")

        if main and (step % cfg.log_every == 0 or step == max_steps):
            elapsed = time.perf_counter() - window_start
            tokens_per_s = window_tokens / max(elapsed, 1e-9)
            tflops = window_flops / max(elapsed, 1e-9) / 1e12
            history.add({"step": step, "loss": step_loss, "lr": scheduler.get_last_lr()[0], "grad_norm": grad_norm,
                         "tokens_per_s": tokens_per_s, "tflops": tflops,
                         "mfu": tflops / (peak * world) if peak else None,
                         "padding_fraction": 1 - window_real / max(window_slots, 1),
                         "real_tokens": real_tokens, "epoch": stream.epoch,
                         **{f"distill_{k}": v for k, v in getattr(accelerator.unwrap_model(objective), "last",
                                                                   {}).items()}})
            logger.info("step %d/%d: loss %.4f, lr %.2e, %.0f tokens/s", step, max_steps, step_loss,
                        history.rows[-1]["lr"], history.rows[-1]["tokens_per_s"])
            window_tokens, window_flops, window_slots, window_real, window_start = 0, 0.0, 0, 0, time.perf_counter()
        if (step % cfg.eval_every == 0 or step == max_steps) and len(val_ds):
            row = {"step": step, **evaluate_mlm(objective, val_ds, tokenizer, cfg, ctx.seed, accelerator)}
            if main:
                history.add(row)
                logger.info("step %d: held-out loss %.4f, perplexity %.2f", step, row["eval_loss"],
                            row["eval_perplexity"])
        if step % cfg.save_every == 0 or step == max_steps:
            save(step)
        out_of_time = cfg.max_minutes and time.perf_counter() - started > 60 * cfg.max_minutes
        # every process must stop at the same step: the decision is the main process's clock's
        if step < max_steps and cfg.max_minutes and bool(accelerator.reduce(
                torch.tensor([float(bool(out_of_time) and main)], device=accelerator.device), "sum").item()):
            if step % cfg.save_every:
                save(step)
            raise TimeBudgetReached(f"time budget of {cfg.max_minutes} min reached at step {step}/{max_steps}; "
                                    "a checkpoint is saved: run the same command again to resume")

    final = ctx.out / "model"
    save_model(accelerator, objective, final)
    if not main:
        return {}
    carbon = emissions.stop()
    history.close()
    tokenizer.model_max_length = cfg.seq_len
    tokenizer.save_pretrained(final)
    evals = [r for r in history.rows if "eval_loss" in r]
    logged = [r for r in history.rows if "tokens_per_s" in r]
    steady = logged[1:] or logged  # the first window holds the warm-up
    summary = {"parameters": n_params, "steps": max_steps, "real_tokens": real_tokens,
               "flops_per_token": per_token, "peak_tflops": peak,
               "tokens_per_s": sum(r["tokens_per_s"] for r in steady) / max(len(steady), 1),
               "tflops": sum(r["tflops"] for r in steady) / max(len(steady), 1),
               "resumed_from_step": state["step"] or None,
               "wall_time_s": round(earlier_wall + time.perf_counter() - started, 2), "attempts": attempt,
               "last_attempt_wall_time_s": round(time.perf_counter() - started, 2),
               "head": loaded.get("head"), "vocabulary_checked": loaded.get("vocabulary_checked"),
               "final_train_loss": next(r["loss"] for r in reversed(history.rows) if "loss" in r),
               "final_eval_loss": evals[-1]["eval_loss"] if evals else None,
               "final_eval_perplexity": evals[-1]["eval_perplexity"] if evals else None,
               "global_batch": cfg.batch_size * accum * world, "grad_accum": accum, "processes": world,
               "hardware": f"{world} x {meta.hardware()}",
               "data": {"train": train_stats, "validation": val_stats,
                        **({"train_short": data["short_stats"]} if cfg.short_seq_len else {})},
               "schedule": {"short_seq_len": cfg.short_seq_len, "short_steps": switch} if switch else None,
               "emissions": carbon,
               "distill": {"teacher": cfg.distill.teacher, "teacher_parameters":
                           sum(p.numel() for p in accelerator.unwrap_model(objective).teacher.parameters()),
                           "note": "FLOPs and MFU count the student only, not the teacher's forward pass"}
               if cfg.distill.teacher else None}
    summary["mfu"] = summary["tflops"] / (peak * world) if peak else None
    meta.write_json(ctx.out / "train_summary.json", summary)
    plot_history(history.rows, ctx.out / CURVES, described)
    return summary
