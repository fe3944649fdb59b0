"""What pre-training optimises: the model (new, continued or a distilled student) wrapped in its objective,
and the parameter groups the optimiser sees."""

from __future__ import annotations

import torch

from medforge import log, paths
from medforge.errors import ConfigError
from medforge.models.distill import DistillMLM, default_layer_map, student_from_teacher
from medforge.models.mlm import SparseMLM, head_of
from medforge.models.presets import build_mlm, load_mlm
from medforge.pretrain.config import PretrainConfig

logger = log.get("pretrain")


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


def build_model(cfg: PretrainConfig, tokenizer, report: dict):
    if cfg.model.init_from:
        model = load_mlm(paths.model_ref(cfg.model.init_from), tokenizer, cfg.seq_len, report, cfg.model.attention)
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
    return build_mlm(cfg.model.family, cfg.model.preset, tokenizer, cfg.seq_len, cfg.model.dropout,
                     cfg.model.attention), \
        f"new {cfg.model.family}-{cfg.model.preset}"


def encoder_parameters(model) -> list[torch.nn.Parameter]:
    """Everything but the MLM head's own weights (the decoder tied to the input embeddings counts as
    encoder): what ``head_warmup_steps`` freezes."""
    head_only = {p.data_ptr() for p in head_of(model).parameters()} - \
        {p.data_ptr() for p in model.base_model.parameters()}
    return [p for p in model.parameters() if p.data_ptr() not in head_only]


def param_groups(model, weight_decay: float) -> list[dict]:
    """No weight decay on biases and LayerNorm weights (decaying them only hurts)."""
    decay: list[torch.nn.Parameter] = []
    no_decay: list[torch.nn.Parameter] = []
    for param in model.parameters():
        if not param.requires_grad:
            continue
        (no_decay if param.ndim < 2 else decay).append(param)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
