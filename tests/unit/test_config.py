from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import pytest

from medforge import config as cfglib
from medforge.errors import ConfigError
from medforge.pipeline import PipelineConfig


@dataclass
class Inner:
    size: int = cfglib.opt(3, "a size")
    kind: Literal["a", "b"] = cfglib.opt("a", "a kind")


@dataclass
class Outer:
    name: str = cfglib.opt("x", "a name")
    rate: float = cfglib.opt(0.5, "a rate")
    items: list[str] = cfglib.opt([], "some items")
    path: str | None = cfglib.opt(None, "an optional path")
    inner: Inner = cfglib.opt(Inner(), "nested")


def test_defaults_and_nested_values():
    obj = cfglib.from_dict(Outer, {"rate": 1, "inner": {"size": 7}})
    assert obj.rate == 1.0 and isinstance(obj.rate, float)
    assert obj.inner.size == 7 and obj.inner.kind == "a"
    assert obj.items == [] and obj.path is None


def test_list_defaults_are_not_shared():
    a, b = Outer(), Outer()
    a.items.append("z")
    assert b.items == []


def test_unknown_key_names_closest_match_and_valid_keys():
    with pytest.raises(ConfigError) as err:
        cfglib.from_dict(Outer, {"inner": {"sise": 2}}, source="run.yaml")
    message = str(err.value)
    assert "run.yaml" in message and "'inner.sise'" in message
    assert "Did you mean 'inner.size'" in message
    assert "inner.kind" in message  # the valid keys are listed


@pytest.mark.parametrize("data, key", [
    ({"rate": "fast"}, "rate"),
    ({"inner": {"size": 2.5}}, "inner.size"),
    ({"inner": {"kind": "c"}}, "inner.kind"),
    ({"inner": 3}, "inner"),
    ({"name": None}, "name"),
    ({"inner": {"size": True}}, "inner.size"),
])
def test_wrong_types_are_rejected_with_the_key(data, key):
    with pytest.raises(ConfigError, match=f"'{key}'"):
        cfglib.from_dict(Outer, data)


def test_overrides_parse_yaml_values_and_create_sections():
    raw = cfglib.apply_overrides({}, ["inner.size=12", "items=[a, b]", "path=null", "name=hello world"])
    obj = cfglib.from_dict(Outer, raw)
    assert obj.inner.size == 12 and obj.items == ["a", "b"] and obj.path is None and obj.name == "hello world"


def test_exponent_without_a_dot_is_a_float():
    assert cfglib.from_dict(Outer, cfglib.apply_overrides({}, ["rate=5e-4"])).rate == 5e-4


def test_override_without_equals_is_an_error():
    with pytest.raises(ConfigError, match="key.sub=value"):
        cfglib.apply_overrides({}, ["inner.size"])


def test_dump_and_reload_round_trip(tmp_path):
    obj = cfglib.from_dict(Outer, {"items": ["é"], "inner": {"kind": "b"}})
    cfglib.dump_yaml(obj, tmp_path / "c.yaml")
    assert cfglib.from_dict(Outer, cfglib.load_yaml(tmp_path / "c.yaml")) == obj


def test_load_yaml_errors_name_the_file_and_line(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        cfglib.load_yaml(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: 1\nb: [unclosed\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml:\d+: invalid YAML"):
        cfglib.load_yaml(bad)
    (tmp_path / "list.yaml").write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="mapping"):
        cfglib.load_yaml(tmp_path / "list.yaml")


def test_help_lists_every_leaf_option_with_its_default():
    text = cfglib.format_help(PipelineConfig)
    for key in ("run_dir", "prepare.inputs", "tokenizer.vocab_size", "pretrain.model.preset",
                "pretrain.learning_rate", "evaluate.task.train", "export.model_name"):
        assert f"  {key} (" in text
    assert "default: 0.15" in text  # mlm_probability


def test_stage_validation_messages():
    with pytest.raises(ConfigError, match="prepare.inputs"):
        cfglib.from_dict(PipelineConfig, {"prepare": {"inputs": []}})
    with pytest.raises(ConfigError, match="mlm_probability"):
        cfglib.from_dict(PipelineConfig, {"prepare": {"inputs": ["a.txt"]}, "pretrain": {"mlm_probability": 1.5}})


@pytest.mark.parametrize("pretrain, key", [({"short_seq_len": 256}, "short_seq_len"),
                                           ({"short_seq_len": 64, "max_tokens": 1000}, "max_tokens"),
                                           ({"short_fraction": 1.0}, "short_fraction"),
                                           ({"model": {"dropout": 1.5}}, "dropout")])
def test_pretrain_schedule_validation(pretrain, key):
    with pytest.raises(ConfigError, match=key):
        cfglib.from_dict(PipelineConfig, {"prepare": {"inputs": ["a.txt"]}, "pretrain": pretrain})


def test_a_retired_key_says_what_replaced_it(tmp_path):
    from medforge import pipeline

    config = tmp_path / "c.yaml"
    config.write_text("prepare:\n  inputs: [a.txt]\ntokenizer:\n  model_max_length: 512\n")
    with pytest.raises(ConfigError, match="'tokenizer.model_max_length' is no longer a setting: .*'pretrain.seq_len'"):
        pipeline.load(config)
