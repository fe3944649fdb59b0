"""Encoder size presets and the builder that turns a preset and a tokenizer into a model."""

from __future__ import annotations

from transformers import RobertaConfig, RobertaForMaskedLM

from medforge.errors import ConfigError

# name: (layers, hidden size, attention heads, feed-forward size)
PRESETS: dict[str, tuple[int, int, int, int]] = {
    "tiny": (2, 64, 2, 256),
    "mini": (4, 256, 4, 1024),
    "small": (4, 512, 8, 2048),
    "base": (12, 768, 12, 3072),
    "large": (24, 1024, 16, 4096),
}


def roberta_config(preset: str, tokenizer, seq_len: int) -> RobertaConfig:
    if preset not in PRESETS:
        raise ConfigError(f"unknown model preset '{preset}'; presets are {list(PRESETS)}")
    layers, hidden, heads, ffn = PRESETS[preset]
    return RobertaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads, intermediate_size=ffn,
        # RoBERTa numbers positions from pad_token_id + 1, so it needs that many extra slots.
        max_position_embeddings=seq_len + tokenizer.pad_token_id + 1,
        type_vocab_size=1, layer_norm_eps=1e-5,
        pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.cls_token_id,
        eos_token_id=tokenizer.sep_token_id,
    )


def build_mlm(family: str, preset: str, tokenizer, seq_len: int) -> RobertaForMaskedLM:
    if family != "roberta":
        raise ConfigError(f"model family '{family}' is not supported yet; use 'roberta'")
    return RobertaForMaskedLM(roberta_config(preset, tokenizer, seq_len))
