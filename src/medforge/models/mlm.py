"""The MLM objective with the output head computed only at the masked positions.

With 15% of positions masked, a full-vocabulary head spends ~85% of its FLOPs on positions
whose logits are thrown away (for a 50k vocabulary the head is ~30% of a base model's FLOPs).
``SparseMLM`` runs the encoder, gathers the masked positions and applies the head to those
only; the loss is the same number. It wraps the model (so DDP's forward hooks still apply) and
the wrapped model is saved as it is: a standard ``*ForMaskedLM``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from medforge.errors import MedforgeError

_HEADS = ("lm_head", "cls")  # RoBERTa/CamemBERT, BERT


def head_of(model: nn.Module) -> nn.Module:
    for name in _HEADS:
        head = getattr(model, name, None)
        if head is not None:
            return head
    raise MedforgeError(f"{type(model).__name__} has no MLM head named {' or '.join(_HEADS)}")


def untrained_head(model: nn.Module, missing_keys: list[str]) -> list[str]:
    """The MLM-head weights that loading did not fill (transformers then initialises them at random):
    a bare encoder (``BertModel``, all-MiniLM-L6-v2) or a fine-tuned classifier has none. Keys tied to a
    loaded tensor (the decoder shares the input embeddings) do not count."""
    state = model.state_dict()
    missing = set(missing_keys)
    loaded = {state[k].data_ptr() for k in state if k not in missing}
    return sorted(k for k in missing if k.split(".")[0] in _HEADS and k in state and state[k].data_ptr() not in loaded)


class SparseMLM(nn.Module):
    def __init__(self, model: Any, sparse: bool = True):  # a transformers *ForMaskedLM
        super().__init__()
        self.model = model
        self.sparse = sparse
        # FSDP's transformer wrap policy shards the layers named here. Only the encoder layers: the
        # embeddings stay in the root unit with the MLM head, whose decoder weight is tied to them.
        self._no_split_modules = sorted(n for n in getattr(model, "_no_split_modules", None) or ()
                                        if n.endswith("Layer"))

    def forward(self, input_ids, attention_mask, labels) -> tuple[torch.Tensor, torch.Tensor]:
        """(sum of the target tokens' losses, number of target tokens): the caller divides by the count
        over all processes, so that every process's tokens weigh the same."""
        targets = labels != -100
        if self.sparse:
            hidden = self.model.base_model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            logits = head_of(self.model)(hidden[targets])
            labels = labels[targets]
        else:
            logits = self.model(input_ids=input_ids, attention_mask=attention_mask).logits
        loss = nn.functional.cross_entropy(logits.reshape(-1, logits.size(-1)).float(), labels.reshape(-1),
                                           ignore_index=-100, reduction="sum")
        return loss, targets.sum()
