"""Typed configs: dataclasses are the schema.

Every stage declares a dataclass whose fields carry a default and a help text (``opt``).
This module turns YAML plus dotted command-line overrides into those dataclasses, with
errors that name the file and key and suggest the closest valid key, and dumps the
resolved config back to YAML for every output folder.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
import types
import typing
from pathlib import Path
from typing import Any, Literal

import yaml

from medforge.errors import ConfigError


def opt(default: Any, help: str) -> Any:
    """A config field with a default and a help text shown by ``--help``."""
    if isinstance(default, (list, dict)):
        value = default
        return dataclasses.field(default_factory=lambda: type(value)(value), metadata={"help": help})
    if dataclasses.is_dataclass(default):
        return dataclasses.field(default_factory=type(default), metadata={"help": help})
    return dataclasses.field(default=default, metadata={"help": help})


def load_yaml(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise ConfigError(f"{where}: invalid YAML: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of keys, not {type(data).__name__}")
    return data


def parse_override(text: str) -> tuple[list[str], Any]:
    """``a.b.c=value`` -> (["a", "b", "c"], value); the value is read as YAML (numbers, lists, null)."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"override {text!r} is not of the form key.sub=value")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    return key.strip().split("."), value


def set_key(data: dict, keys: list[str], value: Any, where: str) -> None:
    """Set ``a.b.c`` (as ["a", "b", "c"]) in a raw config mapping, creating sections on the way."""
    node = data
    for key in keys[:-1]:
        child = node.get(key)
        if child is None:
            child = node[key] = {}
        if not isinstance(child, dict):
            raise ConfigError(f"{where}: '{key}' is a value, not a section")
        node = child
    node[keys[-1]] = value


def apply_overrides(data: dict, overrides: list[str]) -> dict:
    """Set dotted keys into a raw config mapping; validation happens in ``from_dict``."""
    for text in overrides:
        keys, value = parse_override(text)
        set_key(data, keys, value, f"override {text!r}")
    return data


def apply_profile(data: dict, name: str | None, source: str) -> dict:
    """Remove the file's ``profiles`` section (name -> {dotted key: value}) and apply the one named."""
    profiles = data.pop("profiles", None) or {}
    if name is None:
        return data
    if name not in profiles:
        raise ConfigError(f"{source}: no profile '{name}' (profiles: {sorted(profiles) or 'none'})")
    for key, value in profiles[name].items():
        set_key(data, str(key).split("."), value, f"{source}: profile '{name}', key '{key}'")
    return data


_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def interpolate(data: dict, source: str) -> dict:
    """Replace ``${name}`` in every string by the top-level scalar ``name`` (e.g. ``${base_model}``), so that one
    key names what several settings derive from; after the profile and the overrides, which may change it."""
    scalars = {k: v for k, v in data.items() if isinstance(v, (str, int, float)) and not isinstance(v, bool)}

    def resolve(value, where):
        if isinstance(value, str):
            def one(match):
                name = match.group(1)
                if name not in scalars or name == where:
                    raise ConfigError(f"{source}: '{where}' refers to ${{{name}}}, which is not a top-level setting "
                                      f"of the file (top-level settings: {', '.join(sorted(scalars))})")
                return str(scalars[name])
            return _REFERENCE.sub(one, value)
        if isinstance(value, dict):
            return {k: resolve(v, f"{where}.{k}" if where else str(k)) for k, v in value.items()}
        if isinstance(value, list):
            return [resolve(v, where) for v in value]
        return value

    return resolve(data, "")


# keys that existed once, with what replaced them
RETIRED = {"tokenizer.model_max_length": "the model's length has one owner, 'pretrain.seq_len', which the tokenizer "
                                         "saved with the model takes; a task's windows use its own 'max_length', "
                                         "capped at the model's"}


def _unknown_key(cls: type, key: str, prefix: str, source: str) -> ConfigError:
    if prefix + key in RETIRED:
        return ConfigError(f"{source}: '{prefix}{key}' is no longer a setting: {RETIRED[prefix + key]}")
    names = [f.name for f in dataclasses.fields(cls)]
    close = difflib.get_close_matches(key, names, n=1, cutoff=0.5)
    hint = f" Did you mean '{prefix}{close[0]}'?" if close else ""
    valid = ", ".join(prefix + n for n in names)
    return ConfigError(f"{source}: unknown key '{prefix}{key}'.{hint} Valid keys here: {valid}")


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return " | ".join(repr(a) for a in typing.get_args(tp))
    if origin in (typing.Union, types.UnionType):
        return " | ".join(_type_name(a) for a in typing.get_args(tp))
    if origin is list:
        (inner,) = typing.get_args(tp) or (Any,)
        return f"list[{_type_name(inner)}]"
    if origin is dict:
        return "mapping"
    if tp is type(None):
        return "null"
    return getattr(tp, "__name__", str(tp))


def _coerce(tp: Any, value: Any, key: str, source: str) -> Any:
    """Check ``value`` against the annotation ``tp``; convert the few safe cases (int -> float)."""
    origin = typing.get_origin(tp)
    bad = ConfigError(f"{source}: '{key}' must be {_type_name(tp)}, got {value!r}")
    if tp is Any:
        return value
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ConfigError(f"{source}: '{key}' is a section; give a mapping of its keys, not {value!r}")
        return from_dict(typing.cast(type, tp), value, source=source, prefix=key + ".")
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(arg, value, key, source)
            except ConfigError:
                continue
        raise bad
    if origin is Literal:
        if value not in typing.get_args(tp):
            raise bad
        return value
    if origin is list:
        (inner,) = typing.get_args(tp) or (Any,)
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            value = [value]  # a single item where a list is expected is what users mean
        if not isinstance(value, list):
            raise bad
        return [_coerce(inner, v, f"{key}[{i}]", source) for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise bad
        return dict(value)
    if tp is bool:
        if not isinstance(value, bool):
            raise bad
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad
        return value
    if tp is float:
        if isinstance(value, str):
            # YAML 1.1 reads 5e-4 (no dot) as a string; users mean the number.
            try:
                return float(value)
            except ValueError:
                raise bad from None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad
        return float(value)
    if tp is str:
        if isinstance(value, (dict, list)) or value is None:
            raise bad
        return str(value)
    raise bad


def from_dict(cls: type, data: dict | None, source: str = "config", prefix: str = "") -> Any:
    """Build dataclass ``cls`` from a mapping, rejecting unknown keys and wrong types."""
    data = dict(data or {})
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key in data:
        if key not in fields:
            raise _unknown_key(cls, key, prefix, source)
    kwargs = {name: _coerce(hints[name], value, prefix + name, source) for name, value in data.items()}
    obj = cls(**kwargs)
    validate = getattr(obj, "validate", None)
    if validate is not None:
        validate(source)
    return obj


def to_dict(obj: Any) -> dict:
    return dataclasses.asdict(obj)


def dump_yaml(obj: Any, path: str | Path) -> None:
    data = to_dict(obj) if dataclasses.is_dataclass(obj) else obj
    Path(path).write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")


def describe(cls: type, prefix: str = "") -> list[tuple[str, str, Any, str]]:
    """(dotted key, type, default, help) for every leaf option, for ``--help``."""
    rows = []
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
        if dataclasses.is_dataclass(tp):
            rows.extend(describe(typing.cast(type, tp), prefix + f.name + "."))
            continue
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[operator]
        rows.append((prefix + f.name, _type_name(tp), default, f.metadata.get("help", "")))
    return rows


def format_help(cls: type, prefix: str = "") -> str:
    lines = ["options (set in the YAML file or as key=value on the command line):"]
    for key, tp, default, help in describe(cls, prefix):
        lines.append(f"  {key} ({tp}, default: {default!r})")
        if help:
            lines.append(f"      {help}")
    return "\n".join(lines)
