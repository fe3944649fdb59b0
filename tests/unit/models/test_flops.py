from __future__ import annotations

import pytest

from medforge.models.flops import encoder_parameters, flops_per_token, peak_tflops
from medforge.models.presets import build_mlm


@pytest.mark.parametrize("family", ["roberta", "bert"])
def test_flops_per_token_follows_the_guide_formula(tiny_tokenizer, family):
    model = build_mlm(family, "tiny", tiny_tokenizer, 32)
    n_enc = sum(p.numel() for p in model.base_model.encoder.parameters())
    assert encoder_parameters(model) == n_enc
    d, layers, vocab = 64, 2, len(tiny_tokenizer)
    full = 6 * n_enc + 12 * layers * 32 * d + 6 * (d * d + d * vocab)
    assert flops_per_token(model, 32, 1.0) == full
    assert flops_per_token(model, 32, 0.15) == pytest.approx(full - 0.85 * 6 * (d * d + d * vocab))


def test_peak_is_unknown_on_cpu_unless_configured():
    assert peak_tflops("bf16") is None  # this machine has no GPU
    assert peak_tflops("fp32", configured=2.5) == 2.5
