"""Typed configs: dataclasses with a docstring per field, loaded from YAML and overridden by flags.

A config class documents each field with a string literal right below it (as litgpt does);
`field_docs` reads those strings so `--help` and the docs show them without a second copy.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import inspect
import textwrap
import types
import typing
from functools import cache
from pathlib import Path
from typing import Any, TypeVar

import yaml

from oncogpt.errors import OncoGPTError

T = TypeVar("T")


class ConfigError(OncoGPTError, ValueError):
    """A config file or flag holds a value that cannot be used; the message names it."""


@cache
def field_docs(cls: type) -> dict[str, str]:
    """The docstring written under each field of a dataclass, by field name."""
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if not dataclasses.is_dataclass(klass):
            continue
        tree = ast.parse(textwrap.dedent(inspect.getsource(klass)))
        body = tree.body[0].body  # type: ignore[attr-defined]
        for node, nxt in zip(body, body[1:], strict=False):
            if (
                isinstance(node, ast.AnnAssign)
                and isinstance(node.target, ast.Name)
                and isinstance(nxt, ast.Expr)
                and isinstance(nxt.value, ast.Constant)
                and isinstance(nxt.value.value, str)
            ):
                docs[node.target.id] = " ".join(nxt.value.value.split())
    return docs


def _base_type(tp: Any) -> Any:
    """`int | None` -> int; other types unchanged."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return tp


def _coerce(value: Any, tp: Any, where: str) -> Any:
    """Turn a YAML or flag value into the field's declared type, or raise naming `where`."""
    base = _base_type(tp)
    if value is None:
        return None
    try:
        if dataclasses.is_dataclass(base) and isinstance(value, dict):
            return from_dict(base, value, where)
        origin = typing.get_origin(base)
        if origin in (list, tuple):
            (item_tp, *_) = typing.get_args(base) or (Any,)
            if isinstance(value, str):
                value = [v.strip() for v in value.split(",") if v.strip()]
            items = [_coerce(v, item_tp, f"{where}[{i}]") for i, v in enumerate(value)]
            return items if origin is list else tuple(items)
        if base is bool and isinstance(value, str):
            if value.lower() in ("1", "true", "yes", "on"):
                return True
            if value.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(f"not a boolean: {value!r}")
        if base in (int, float, str, Path) and not isinstance(value, base):
            if base is int and isinstance(value, float) and not value.is_integer():
                raise ValueError(f"not an integer: {value!r}")
            return base(value)
        return value
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: {exc}") from None


def from_dict(cls: type[T], data: dict[str, Any], where: str = "config") -> T:
    """Build `cls` from a mapping, rejecting unknown keys by name."""
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - names)
    if unknown:
        raise ConfigError(f"{where}: unknown field(s) {', '.join(unknown)}; known: {sorted(names)}")
    kwargs = {k: _coerce(v, hints[k], f"{where}.{k}") for k, v in data.items()}
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: {exc}") from None


def load_config(cls: type[T], path: str | Path | None = None, **overrides: Any) -> T:
    """Defaults, then the YAML file at `path`, then `overrides`."""
    data: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"{path}: config file not found")
        try:
            loaded = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: invalid YAML: {exc}") from None
        if not isinstance(loaded, dict):
            raise ConfigError(f"{path}: expected a mapping of field names to values")
        data.update(loaded)
    data.update(overrides)
    return from_dict(cls, data, where=str(path) if path else cls.__name__)


def to_dict(config: Any) -> dict[str, Any]:
    """A YAML-safe dict of a config (paths as strings)."""

    def plain(v: Any) -> Any:
        if isinstance(v, Path):
            return str(v)
        if isinstance(v, list | tuple):
            return [plain(x) for x in v]
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        return v

    return plain(dataclasses.asdict(config))


def add_config_flags(
    parser: argparse.ArgumentParser,
    cls: type,
    skip: tuple[str, ...] = (),
    aliases: dict[str, str] | None = None,
) -> None:
    """One flag per scalar or list field, spelled both `--lora-r` and `--lora_r` (a boolean one
    alone means true); `aliases` adds a short spelling for a field (`{"request_timeout_s":
    "--timeout"}`)."""
    docs = field_docs(cls)
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        base = _base_type(hints[f.name])
        if f.name in skip or dataclasses.is_dataclass(base):
            continue
        if typing.get_origin(base) is list and dataclasses.is_dataclass(typing.get_args(base)[0]):
            continue
        flags = sorted({f"--{f.name.replace('_', '-')}", f"--{f.name}"})
        if aliases and f.name in aliases:
            flags.insert(0, aliases[f.name])
        default = f.default if f.default is not dataclasses.MISSING else None
        # A bare boolean flag (`--raw-completions`) means true; `--cite false` still parses.
        bare = {"nargs": "?", "const": "true"} if base is bool else {}
        parser.add_argument(
            *flags,
            dest=f.name,
            default=None,
            metavar=f.name.upper(),
            **bare,
            help=f"{docs.get(f.name, '')} (default: {default})".replace("%", "%%"),
        )


def flag_overrides(args: argparse.Namespace, cls: type) -> dict[str, Any]:
    """The config fields given on the command line."""
    names = {f.name for f in dataclasses.fields(cls)}
    return {k: v for k, v in vars(args).items() if k in names and v is not None}


def save_yaml(config: Any, path: Path) -> None:
    path.write_text(yaml.safe_dump(to_dict(config), sort_keys=False))
