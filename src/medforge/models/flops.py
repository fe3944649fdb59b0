"""Training FLOPs per token and model FLOPs utilisation (MFU).

FLOPs per token = 6*N_enc + 12*L*s*d + 6*p*(d^2 + d*V): the encoder's weights forward and
backward, attention over a sequence of s, and the MLM head (a d x d transform and the d x V
decoder) at the share p of positions that go through it (1 for a full head, the masking rate
for medforge's sparse head). Embedding lookups cost no matrix FLOPs.
"""

from __future__ import annotations

# Dense bf16/fp16 tensor-core peaks, TFLOP/s, by a substring of torch.cuda.get_device_name().
PEAK_TFLOPS = {"H200": 989.0, "H100 SXM": 989.0, "H100 80GB HBM3": 989.0, "H100 PCIe": 756.0, "H100": 756.0,
               "A100": 312.0, "L40S": 362.0, "L4": 121.0, "A10G": 125.0, "V100": 125.0, "T4": 65.0}


def encoder_parameters(model) -> int:
    return sum(p.numel() for name, p in model.named_parameters()
               if "embeddings" not in name and "lm_head" not in name and not name.startswith("cls."))


def flops_per_token(model, seq_len: int, head_share: float) -> float:
    config = model.config
    d, layers, vocab = config.hidden_size, config.num_hidden_layers, config.vocab_size
    return 6 * encoder_parameters(model) + 12 * layers * seq_len * d + 6 * head_share * (d * d + d * vocab)


def peak_tflops(precision: str, configured: float = 0.0) -> float | None:
    """The device's peak for this precision: as configured, else known GPUs in bf16/fp16, else unknown."""
    if configured > 0:
        return configured
    import torch

    if precision == "fp32" or not torch.cuda.is_available():
        return None
    name = torch.cuda.get_device_name()
    return next((peak for key, peak in PEAK_TFLOPS.items() if key in name), None)
