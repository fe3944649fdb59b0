from __future__ import annotations

import pytest
import torch

from medforge.data.collator import MLMCollator
from medforge.models.mlm import SparseMLM
from medforge.models.presets import build_mlm


@pytest.mark.parametrize("family", ["roberta", "bert", "camembert"])
def test_sparse_head_gives_the_same_loss_and_gradients(tiny_tokenizer, family):
    torch.manual_seed(0)
    model = build_mlm(family, "tiny", tiny_tokenizer, 32).train()
    torch.nn.init.normal_(head_bias(model), std=0.1)  # a non-zero bias must be gathered right too
    ids = torch.randint(5, len(tiny_tokenizer), (4, 32))
    ids[:, 0] = tiny_tokenizer.cls_token_id
    batch = MLMCollator(tiny_tokenizer, generator=torch.Generator().manual_seed(1))([{"input_ids": r} for r in ids])
    losses, grads = [], []
    for sparse in (False, True):
        model.zero_grad()
        torch.manual_seed(2)  # same dropout masks in both passes
        total, count = SparseMLM(model, sparse=sparse)(**batch)
        loss = total / count
        loss.backward()
        losses.append(loss.detach())
        grads.append(torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None]))
    torch.testing.assert_close(losses[1], losses[0], rtol=0, atol=1e-6)
    torch.testing.assert_close(grads[1], grads[0], rtol=0, atol=1e-6)


def head_bias(model):
    return model.get_output_embeddings().bias


@pytest.mark.parametrize("family", ["roberta", "camembert", "bert"])
def test_fsdp_wraps_the_encoder_layers_and_keeps_tied_embeddings_in_the_root(tiny_tokenizer, family):
    from accelerate.utils.dataclasses import get_module_class_from_name

    objective = SparseMLM(build_mlm(family, "tiny", tiny_tokenizer, 16))
    assert len(objective._no_split_modules) == 1 and objective._no_split_modules[0].endswith("Layer")
    layer = get_module_class_from_name(objective, objective._no_split_modules[0])
    assert sum(isinstance(m, layer) for m in objective.modules()) == objective.model.config.num_hidden_layers


@pytest.mark.parametrize("family", ["roberta", "bert"])
def test_an_unpadded_batch_without_a_mask_gives_the_same_loss_and_gradients(tiny_tokenizer, family):
    """The training step drops the mask of a packed batch with no padding (decided on the host): the encoder
    must compute exactly what it computes with an all-ones mask."""
    torch.manual_seed(0)
    model = build_mlm(family, "tiny", tiny_tokenizer, 32).train()
    ids = torch.randint(5, len(tiny_tokenizer), (4, 32))
    batch = MLMCollator(tiny_tokenizer, generator=torch.Generator().manual_seed(1))([{"input_ids": r} for r in ids])
    assert bool(batch["attention_mask"].all())
    results = []
    for mask in (batch["attention_mask"], None):
        model.zero_grad()
        torch.manual_seed(2)
        total, count = SparseMLM(model)(input_ids=batch["input_ids"], attention_mask=mask, labels=batch["labels"])
        (total / count).backward()
        grads = torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None])
        results.append((total.detach(), grads))
    torch.testing.assert_close(results[1][0], results[0][0], rtol=0, atol=1e-5)
    torch.testing.assert_close(results[1][1], results[0][1], rtol=0, atol=1e-5)
