"""Encoder families and size presets, and the builders that turn them into a masked LM."""

from __future__ import annotations

from transformers import (AutoModelForMaskedLM, BertConfig, BertForMaskedLM, CamembertConfig,
                          CamembertForMaskedLM, RobertaConfig, RobertaForMaskedLM)

from medforge.errors import ConfigError

# name: (layers, hidden size, attention heads, feed-forward size)
PRESETS: dict[str, tuple[int, int, int, int]] = {
    "tiny": (2, 64, 2, 256),
    "mini": (4, 256, 4, 1024),
    "small": (4, 512, 8, 2048),
    "base": (12, 768, 12, 3072),
    "large": (24, 1024, 16, 4096),
}

# family: (config class, model class, extra config). RoBERTa-style models number positions from
# pad_token_id + 1, so they need that many extra position slots; BERT does not.
FAMILIES = {
    "roberta": (RobertaConfig, RobertaForMaskedLM, {"type_vocab_size": 1, "layer_norm_eps": 1e-5}),
    "camembert": (CamembertConfig, CamembertForMaskedLM, {"type_vocab_size": 1, "layer_norm_eps": 1e-5}),
    "bert": (BertConfig, BertForMaskedLM, {"type_vocab_size": 2, "layer_norm_eps": 1e-12}),
}


def position_offset(config) -> int:
    return config.pad_token_id + 1 if config.model_type in ("roberta", "camembert", "xlm-roberta") else 0


def model_config(family: str, preset: str, tokenizer, seq_len: int, dropout: float = 0.1):
    if family not in FAMILIES:
        raise ConfigError(f"unknown model family '{family}'; families are {list(FAMILIES)}")
    if preset not in PRESETS:
        raise ConfigError(f"unknown model preset '{preset}'; presets are {list(PRESETS)}")
    config_class, _, extra = FAMILIES[family]
    layers, hidden, heads, ffn = PRESETS[preset]
    config = config_class(
        vocab_size=len(tokenizer), hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
        intermediate_size=ffn, pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.cls_token_id,
        eos_token_id=tokenizer.sep_token_id, hidden_dropout_prob=dropout, attention_probs_dropout_prob=dropout,
        **extra)
    config.max_position_embeddings = seq_len + position_offset(config)
    return config


def roberta_config(preset: str, tokenizer, seq_len: int):
    return model_config("roberta", preset, tokenizer, seq_len)


def build_mlm(family: str, preset: str, tokenizer, seq_len: int, dropout: float = 0.1):
    """A freshly initialised masked LM of the family and size."""
    config = model_config(family, preset, tokenizer, seq_len, dropout)
    return FAMILIES[family][1](config)


def load_mlm(name_or_path: str, tokenizer, seq_len: int):
    """A pre-trained masked LM to continue training, checked against the tokenizer and sequence length."""
    try:
        model = AutoModelForMaskedLM.from_pretrained(name_or_path)
    except OSError as exc:
        raise ConfigError(f"cannot load a masked LM from {name_or_path!r}: {exc}") from None
    config = model.config
    if len(tokenizer) != config.vocab_size:
        raise ConfigError(f"model and tokenizer vocabularies disagree: {name_or_path} has {config.vocab_size} "
                          f"embeddings, the tokenizer {len(tokenizer)} tokens; use the model's own tokenizer "
                          "(or one adapted from it with `medforge tokenizer adapt`)")
    limit = config.max_position_embeddings - position_offset(config)
    if seq_len > limit:
        raise ConfigError(f"'pretrain.seq_len' {seq_len} is longer than {name_or_path}'s position embeddings "
                          f"allow ({limit}); lower it")
    if config.pad_token_id != tokenizer.pad_token_id:
        raise ConfigError(f"{name_or_path} pads with id {config.pad_token_id} but the tokenizer with "
                          f"{tokenizer.pad_token_id}; they do not belong together")
    return model
