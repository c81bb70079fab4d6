"""Typed configuration: dataclass sections, YAML files, dotted ``key=value`` overrides.

Every section is a dataclass whose fields are the valid keys with their defaults, so an
unknown key or a value of the wrong type is caught before any work starts, and the error
names the key and the valid ones (RL-Zoo keeps hyperparameters in YAML the same way).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

import yaml

from common.errors import UserError

T = TypeVar("T")


def from_dict(cls: type[T], data: Any, where: str = "") -> T:
    """Build dataclass ``cls`` from a mapping, checking every key and value type."""
    label = where or "config"
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise UserError(f"{label} must be a mapping of keys to values, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    values = {}
    for key, value in data.items():
        if key not in names:
            raise UserError(
                f"unknown key '{_join(where, key)}'; valid keys of {label}: {', '.join(names)}"
            )
        values[key] = _coerce(hints[key], value, _join(where, key))
    return cls(**values)


def to_dict(obj: Any) -> Any:
    """Dataclasses to plain dicts (for YAML, JSON and hashing)."""
    if dataclasses.is_dataclass(obj):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, dict):
        return {k: to_dict(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_dict(v) for v in obj]
    return obj


def load_yaml(path: str | Path, _seen: tuple[Path, ...] = ()) -> dict:
    """Read a YAML config file; a missing or malformed file is a user error.

    A top-level ``base: FILE`` (relative to this file) is read first and this file's sections are
    merged over it key by key, so a game's config holds only what differs from a shared base.
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(f"config file '{path}' not found; pass --config configs/NAME.yaml")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" at line {mark.line + 1}" if mark else ""
        raise UserError(f"config file '{path}' is not valid YAML{line}; fix the syntax") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise UserError(f"config file '{path}' must hold a mapping of sections, not a list or value")
    base = data.pop("base", None)
    if base is None:
        return data
    base_path = (path.parent / str(base)).resolve()
    if base_path in _seen:
        raise UserError(f"config file '{path}' names '{base}' as its base, which leads back to itself")
    return merge(load_yaml(base_path, (*_seen, path.resolve())), data)


def merge(base: dict, delta: dict) -> dict:
    """``delta`` over ``base``: nested mappings merge key by key, anything else replaces."""
    merged = dict(base)
    for key, value in delta.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def apply_overrides(data: dict, overrides: list[str]) -> dict:
    """Apply ``section.key=value`` strings; values are parsed as YAML (numbers, lists, ...)."""
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise UserError(f"override '{item}' must look like section.key=value")
        try:
            value = yaml.safe_load(raw) if raw else ""
        except yaml.YAMLError:
            value = raw
        node = data
        parts = key.split(".")
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise UserError(f"override '{item}': '{part}' is a value, not a section")
            node = child
        node[parts[-1]] = value
    return data


def dump_yaml(obj: Any) -> str:
    return yaml.safe_dump(to_dict(obj), sort_keys=False)


def fingerprint(data: Any) -> str:
    """A short stable hash of a config (sub)tree: equal configs, equal fingerprints."""
    text = json.dumps(to_dict(data), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def describe(cls: type, prefix: str = "") -> list[str]:
    """Every key of a dataclass tree with its default, for ``--help``."""
    lines = []
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        name = _join(prefix, f.name)
        if dataclasses.is_dataclass(hints[f.name]):
            lines.extend(describe(hints[f.name], name))
            continue
        if f.default is not dataclasses.MISSING:
            default = f.default
        elif f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        else:
            default = "(required)"
        lines.append(f"  {name} = {default!r}")
    return lines


def check_ranges(section: str, cfg: Any, *, at_least_one: tuple[str, ...] = (),
                 non_negative: tuple[str, ...] = (), unit: tuple[str, ...] = (),
                 positive: tuple[str, ...] = ()) -> None:
    """The common rules on a section's numbers, checked one way everywhere: each failure is one
    ``UserError`` naming the key, the rule and the value given."""
    rules = ((at_least_one, lambda v: v >= 1, "must be at least 1"),
             (non_negative, lambda v: v >= 0, "must not be negative"),
             (unit, lambda v: 0 <= v <= 1, "must be in [0, 1]"),
             (positive, lambda v: v > 0, "must be positive"))
    for keys, holds, rule in rules:
        for key in keys:
            value = getattr(cfg, key)
            if value is not None and not holds(value):
                raise UserError(f"{section}.{key} {rule}, got {value}")


def _join(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else str(key)


def _coerce(hint: Any, value: Any, key: str) -> Any:
    if dataclasses.is_dataclass(hint):
        return from_dict(hint, value, key)
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(hint)
        if value is None and type(None) in options:
            return None
        for option in options:
            if option is type(None):
                continue
            try:
                return _coerce(option, value, key)
            except UserError:
                continue
        raise UserError(f"'{key}' must be {_type_name(hint)}, got {value!r}")
    if origin is list:
        if not isinstance(value, list):
            raise UserError(f"'{key}' must be a list, got {value!r}")
        (item,) = typing.get_args(hint) or (Any,)
        return [_coerce(item, v, f"{key}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise UserError(f"'{key}' must be a mapping, got {value!r}")
        return dict(value)
    if hint is Any:
        return value
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint is float and isinstance(value, str):
        try:  # YAML 1.1 reads 7e-4 (no dot) as a string
            return float(value)
        except ValueError:
            pass
    if hint is bool and not isinstance(value, bool):
        raise UserError(f"'{key}' must be true or false, got {value!r}")
    if hint is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise UserError(f"'{key}' must be an integer, got {value!r}")
    if hint in (float, str) and not isinstance(value, hint):
        raise UserError(f"'{key}' must be {_type_name(hint)}, got {value!r}")
    return value


def _type_name(hint: Any) -> str:
    return getattr(hint, "__name__", None) or str(hint).replace("typing.", "")
