from __future__ import annotations

import pytest
import torch

from medforge.errors import ConfigError
from medforge.models.presets import PRESETS, build_mlm, roberta_config


def test_tiny_model_shapes_and_positions(tiny_tokenizer):
    model = build_mlm("roberta", "tiny", tiny_tokenizer, seq_len=32)
    cfg = model.config
    assert (cfg.num_hidden_layers, cfg.hidden_size) == PRESETS["tiny"][:2]
    assert cfg.vocab_size == len(tiny_tokenizer) and cfg.pad_token_id == tiny_tokenizer.pad_token_id
    ids = torch.full((1, 32), 10)  # the longest sequence fits the position table
    assert model(input_ids=ids).logits.shape == (1, 32, len(tiny_tokenizer))


def test_every_preset_has_heads_dividing_width(tiny_tokenizer):
    for name, (_layers, hidden, heads, _ffn) in PRESETS.items():
        assert hidden % heads == 0, name
        assert roberta_config(name, tiny_tokenizer, 128).num_attention_heads == heads


def test_unknown_family_or_preset(tiny_tokenizer):
    with pytest.raises(ConfigError, match="family"):
        build_mlm("gpt", "tiny", tiny_tokenizer, 32)
    with pytest.raises(ConfigError, match="preset"):
        roberta_config("huge", tiny_tokenizer, 32)


def test_the_attention_kernel_is_chosen_and_an_unavailable_one_is_a_clear_error(tiny_tokenizer):
    assert build_mlm("roberta", "tiny", tiny_tokenizer, 32).config._attn_implementation == "sdpa"
    assert build_mlm("bert", "tiny", tiny_tokenizer, 32, attention="eager").config._attn_implementation == "eager"
    with pytest.raises(ConfigError, match="'pretrain.model.attention' flash_attention_2 cannot be used here"):
        build_mlm("roberta", "tiny", tiny_tokenizer, 32, attention="flash_attention_2")
