"""Command-line options written once, as config dataclass fields.

A field made with `option(default, help, ...)` carries its help text, choices, lower bound, group
and metavar in its metadata. `add_options` turns the fields into argparse options (`batch_size`
becomes `--batch-size`) and `check_options` validates a config against the same metadata, so a
choice or a bound is stated in one place whether the config came from the command line, from
Python or from a saved JSON file.

    @dataclass
    class Options:
        batch_size: int = option(32, "posts per forward pass", at_least=1)
        precision: str = option("auto", "fp32, bf16 or auto", choices=("auto", "fp32", "bf16"))
"""

from __future__ import annotations

import argparse
import dataclasses
import operator
import types
import typing
from collections.abc import Sequence
from typing import Any

from crisis_model.errors import ConfigError

_BOUNDS = {"at_least": (operator.ge, "at least"), "above": (operator.gt, "above"), "below": (operator.lt, "below")}


def option(
    default: Any,
    help: str,  # noqa: A002 (argparse's name for it)
    *,
    choices: Sequence[Any] | None = None,
    at_least: float | None = None,
    above: float | None = None,
    below: float | None = None,
    group: str | None = None,
    metavar: str | None = None,
) -> Any:
    """A dataclass field that is also a command-line option. `default` is dataclasses.MISSING for
    a field without a default; `at_least`, `above` and `below` bound a number."""
    bounds = {"at_least": at_least, "above": above, "below": below}
    metadata = {"help": help, "choices": choices, "bounds": bounds, "group": group, "metavar": metavar}
    return dataclasses.field(default=default, metadata=metadata)


def option_name(field_name: str, turned_off: bool = False) -> str:
    """`batch_size` -> `--batch-size`; a flag that turns off what is on by default: `--no-...`."""
    return ("--no-" if turned_off else "--") + field_name.replace("_", "-")


def _value_type(hint: Any) -> type:
    """int for `int`, `int | None` and `Optional[int]`."""
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        (hint,) = [arg for arg in typing.get_args(hint) if arg is not type(None)]
    return hint


def command_line_fields(cls: type) -> list[dataclasses.Field]:
    return [f for f in dataclasses.fields(cls) if "help" in f.metadata]


def add_options(
    parser: argparse.ArgumentParser,
    cls: type,
    *,
    suppress_defaults: bool = False,
    groups: dict[str, argparse._ArgumentGroup] | None = None,
) -> None:
    """One option per `option()` field of the dataclass `cls`, in field order, into the argument
    group its metadata names (`groups`, else the parser). With `suppress_defaults`, an option not
    given is absent from the parsed namespace (to tell what was typed from what was defaulted)."""
    hints = typing.get_type_hints(cls)
    for f in command_line_fields(cls):
        meta = f.metadata
        target = (groups or {}).get(meta["group"], parser)
        default = None if f.default is dataclasses.MISSING else f.default
        kwargs: dict[str, Any] = {"dest": f.name, "help": meta["help"]}
        kind = _value_type(hints[f.name])
        if kind is bool:
            name = option_name(f.name, turned_off=bool(default))
            kwargs["action"] = "store_false" if default else "store_true"
        else:
            name = option_name(f.name)
            kwargs.update(type=kind, choices=meta["choices"], metavar=meta["metavar"])
            if default is not None:
                kwargs["help"] += " (default %(default)s)"
        kwargs["default"] = argparse.SUPPRESS if suppress_defaults else default
        target.add_argument(name, **kwargs)


def check_options(config: Any) -> None:
    """Every `option()` field of `config` within its choices and bounds; ConfigError naming the
    field otherwise. None passes where None is the default (the field is then unset)."""
    for f in command_line_fields(type(config)):
        value, meta = getattr(config, f.name), f.metadata
        if value is None and f.default is None:
            continue
        if meta["choices"] is not None and value not in meta["choices"]:
            allowed = ", ".join(map(str, meta["choices"]))
            raise ConfigError(f"unknown {f.name} {value!r}; choose one of {allowed}")
        bounds = {name: bound for name, bound in meta["bounds"].items() if bound is not None}
        if not bounds:
            continue
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{f.name} must be a number, not {value!r}")
        if any(not _BOUNDS[name][0](value, bound) for name, bound in bounds.items()):  # NaN fails them all
            rule = " and ".join(f"{_BOUNDS[name][1]} {bound}" for name, bound in bounds.items())
            raise ConfigError(f"{f.name} must be {rule}, not {value}")
