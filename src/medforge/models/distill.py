"""Knowledge distillation of a masked LM (DistilBERT, bio-lm's "distill-align").

The student is the teacher with fewer layers, initialised from a subset of them (by default every
k-th, ending with the last), or a fresh preset. It learns from three losses at the masked
positions, all sums over target tokens like the MLM objective's:
- KL divergence from the teacher's distribution to the student's, both softened by a temperature T
  and scaled by T² (so that its gradients keep their size as T changes);
- the MLM cross-entropy on the true tokens;
- optionally, alignment of hidden states through the layer map (student layer i with teacher layer
  map[i]; the embeddings with the embeddings): 1 - cosine or MSE, averaged over real tokens.
In evaluation the objective returns the MLM loss alone, so held-out perplexity stays comparable.
"""

from __future__ import annotations

import copy
import re
from typing import Any

import torch
from torch import nn

from medforge.errors import ConfigError
from medforge.models.mlm import head_of

_LAYER = re.compile(r"(\.layer\.)(\d+)(\.)")


def default_layer_map(teacher_layers: int, student_layers: int) -> list[int]:
    """Every k-th teacher layer, ending with the last: 12 -> 6 gives [1, 3, 5, 7, 9, 11]."""
    if not 0 < student_layers <= teacher_layers:
        raise ConfigError(f"a student of {student_layers} layers cannot be taken from a teacher of {teacher_layers}")
    return [round((i + 1) * teacher_layers / student_layers) - 1 for i in range(student_layers)]


def student_from_teacher(teacher: Any, layer_map: list[int], dropout: float | None = None) -> Any:
    """The teacher's architecture with ``len(layer_map)`` layers, holding copies of the mapped teacher layers
    (embeddings and MLM head copied as they are); ``dropout``, if given, replaces the teacher's."""
    config = copy.deepcopy(teacher.config)
    config.num_hidden_layers = len(layer_map)
    if dropout is not None:
        config.hidden_dropout_prob = config.attention_probs_dropout_prob = dropout
    student = type(teacher)(config)
    weights = teacher.state_dict()
    mapped = {}
    for key in student.state_dict():
        match = _LAYER.search(key)
        source = _LAYER.sub(lambda m: f"{m.group(1)}{layer_map[int(m.group(2))]}{m.group(3)}", key, count=1) \
            if match else key
        mapped[key] = weights[source]
    student.load_state_dict(mapped)
    return student


class DistillMLM(nn.Module):
    """The objective: ``forward`` gives (loss summed over target tokens, number of target tokens)."""

    def __init__(self, student: Any, teacher: Any, temperature: float = 2.0, kl_weight: float = 1.0,
                 mlm_weight: float = 1.0, align: str = "none", align_weight: float = 1.0,
                 layer_map: list[int] | None = None):
        super().__init__()
        self.model = student  # the name SparseMLM uses: checkpoints and the final save take ``.model``
        self.teacher = teacher.eval()
        for p in self.teacher.parameters():
            p.requires_grad_(False)
        self.temperature, self.kl_weight, self.mlm_weight = temperature, kl_weight, mlm_weight
        self.align, self.align_weight = align, align_weight
        self.layer_map = layer_map or default_layer_map(teacher.config.num_hidden_layers,
                                                        student.config.num_hidden_layers)
        if align != "none" and student.config.hidden_size != teacher.config.hidden_size:
            raise ConfigError("hidden-state alignment needs the student's hidden size to equal the teacher's "
                              f"({student.config.hidden_size} vs {teacher.config.hidden_size})")
        self._no_split_modules = sorted(n for n in getattr(student, "_no_split_modules", None) or ()
                                        if n.endswith("Layer"))
        self.last: dict[str, torch.Tensor] = {}

    def train(self, mode: bool = True):
        super().train(mode)
        self.teacher.eval()  # the teacher's dropout stays off
        return self

    def kl(self, student_logits: torch.Tensor, teacher_logits: torch.Tensor) -> torch.Tensor:
        """Sum over positions of T² KL(softmax(teacher / T) || softmax(student / T))."""
        t = self.temperature
        log_student = nn.functional.log_softmax(student_logits.float() / t, dim=-1)
        log_teacher = nn.functional.log_softmax(teacher_logits.float() / t, dim=-1)
        return (log_teacher.exp() * (log_teacher - log_student)).sum() * t * t

    def alignment(self, student_states, teacher_states, attention_mask) -> torch.Tensor:
        """Mean over real tokens and mapped layers (embeddings included) of the chosen distance (every token
        without a mask: a packed batch holds no padding)."""
        real = attention_mask.bool() if attention_mask is not None else \
            torch.ones(student_states[0].shape[:2], dtype=torch.bool, device=student_states[0].device)
        pairs = [(0, 0)] + [(i + 1, j + 1) for i, j in enumerate(self.layer_map)]
        total: Any = 0.0
        for s, t in pairs:
            a, b = student_states[s][real].float(), teacher_states[t][real].float()
            if self.align == "cosine":
                total = total + (1 - nn.functional.cosine_similarity(a, b, dim=-1)).mean()
            else:
                total = total + nn.functional.mse_loss(a, b)
        return total / len(pairs)

    def forward(self, input_ids, attention_mask, labels) -> tuple[torch.Tensor, torch.Tensor]:
        targets = labels != -100
        count = targets.sum()
        hidden_states = self.align != "none" and self.training
        student = self.model.base_model(input_ids=input_ids, attention_mask=attention_mask,
                                        output_hidden_states=hidden_states)
        student_logits = head_of(self.model)(student.last_hidden_state[targets])
        mlm = nn.functional.cross_entropy(student_logits.float(), labels[targets], reduction="sum")
        if not self.training:
            return mlm, count
        with torch.no_grad():
            teacher = self.teacher.base_model(input_ids=input_ids, attention_mask=attention_mask,
                                              output_hidden_states=hidden_states)
            teacher_logits = head_of(self.teacher)(teacher.last_hidden_state[targets])
        kl = self.kl(student_logits, teacher_logits)
        total = self.mlm_weight * mlm + self.kl_weight * kl
        parts = {"mlm": mlm.detach(), "kl": kl.detach()}
        if hidden_states:
            # a per-token mean, scaled to the target count so that the caller's division keeps it a mean
            align = self.alignment(student.hidden_states, teacher.hidden_states, attention_mask) * count
            total = total + self.align_weight * align
            parts["align"] = align.detach()
        # tensors: read (a host-device synchronisation) only when the loop logs them
        self.last = {k: v.double() / count.clamp(min=1) for k, v in parts.items()}
        return total, count
