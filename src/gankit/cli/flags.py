"""The flags every command shares, and one flag per :class:`~gankit.config.TrainConfig` field.

One vocabulary across commands: ``--quiet`` (no progress output), ``--threads N``,
``--device`` and ``--seed`` mean the same wherever they appear. Nothing here
imports torch: the parsers are built for every ``gankit`` call, ``--help`` included.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import types
import typing
from collections.abc import Callable
from typing import Any

from ..config import PRESET_FIELDS, PRESET_FILLED, SEED_MAX, ConfigError, TrainConfig

# --------------------------------------------------------------------------- shared flags

DEVICES = "auto, cpu, cuda or cuda:N"


def add_device(p: argparse.ArgumentParser, default: str = "auto", why: str = "") -> None:
    p.add_argument("--device", default=default, metavar="DEVICE", help=f"{DEVICES} (default: {default}{why})")


def add_seed(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument("--seed", type=whole(0, SEED_MAX), default=0, metavar="N", help=f"seeds {what} (default: 0)")


def whole(low: int, high: int | None = None) -> Callable[[str], int]:
    """An argparse type: an integer in ``[low, high]``, refused at the edge with the flag, the value and the range."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < low or (high is not None and value > high):
            allowed = f">= {low}" if high is None else f"in {low} .. {high}"
            raise argparse.ArgumentTypeError(f"must be {allowed}; got {value}")
        return value

    return parse


def above_zero(text: str) -> float:
    """An argparse type: a finite number > 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0; got {text}")
    return value


def add_threads(p: argparse.ArgumentParser) -> None:
    """``--threads N`` after the command too (``gankit --threads N COMMAND`` also works)."""
    p.add_argument("--threads", type=int, default=argparse.SUPPRESS, metavar="N", help=THREADS_HELP)


THREADS_HELP = ("CPU threads for torch (default 0: torch's choice, less the CPUs other processes keep busy when "
                "the command trains, since spin-waiting threads then run many times slower)")


def add_quiet(p: argparse.ArgumentParser, dest: str = "quiet") -> None:
    """``--quiet``: no progress output; ``--no-progress`` is still accepted (the old spelling, not shown)."""
    p.add_argument("--quiet", dest=dest, action="store_true",
                   help="no progress output (a bar on a terminal, a line per step in a file or pipe)")
    p.add_argument("--no-progress", dest=dest, action="store_true", help=argparse.SUPPRESS)


# --------------------------------------------------------------------------- config flags


def flag(name: str) -> str:
    """The flag of a TrainConfig field: ``d_steps`` -> ``--d-steps``."""
    return {"data_options": "--data-option", "progress": "--quiet"}.get(name, "--" + name.replace("_", "-"))


def _parse_tuple(kind: type) -> Callable[[str], tuple]:
    def parse(text: str) -> tuple:
        try:
            values = tuple(kind(v) for v in text.replace(" ", "").split(",") if v)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected comma-separated {kind.__name__}s, got {text!r}") from None
        if not values:
            raise argparse.ArgumentTypeError(f"expected one or more comma-separated {kind.__name__}s, got {text!r}")
        return values

    return parse


def _parse_option(text: str) -> tuple[str, str]:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    key, value = text.split("=", 1)
    return key.strip(), value.strip()


def _default_text(f: dataclasses.Field) -> str:
    if f.name in PRESET_FILLED:
        return "the preset's"
    if f.default is None:
        unset = f.metadata.get("unset")
        return flag(unset) if unset in {g.name for g in dataclasses.fields(TrainConfig)} else str(unset)
    if f.default is dataclasses.MISSING:
        return str(f.default_factory())  # type: ignore[misc]
    return str(f.default).lower() if isinstance(f.default, bool) else str(f.default)


def add_config_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per TrainConfig field (``--d-steps`` for ``d_steps``); only the flags given override.

    Each flag's help, valid names and type come from the field: its metadata
    (:func:`gankit.config._option`) and its annotation, read with
    ``typing.get_origin`` / ``typing.get_args``.
    """
    hints = typing.get_type_hints(TrainConfig)
    group = parser.add_argument_group(
        "run configuration",
        "Flags whose default is \"the preset's\" take the --objective preset's value: its paper's settings for "
        "images, measured recipes for points (gankit.presets.PRESETS).")
    for f in dataclasses.fields(TrainConfig):
        hint = hints[f.name]
        if typing.get_origin(hint) in (typing.Union, types.UnionType):
            (hint,) = [a for a in typing.get_args(hint) if a is not type(None)]  # X | None -> X
        origin, args = typing.get_origin(hint), typing.get_args(hint)
        choices = f.metadata.get("choices")
        text = f.metadata.get("help", "")
        if choices:
            text += f"; one of: {', '.join(choices)}"
        kw: dict[str, Any] = {"dest": f.name, "default": argparse.SUPPRESS,
                              "help": f"{text} (default: {_default_text(f)})"}
        name = flag(f.name)
        if f.name == "progress":
            group.add_argument(name, action="store_const", const=False,
                               **{**kw, "help": "no progress output (a bar on a terminal, a line per logging step "
                                                "in a file or pipe)"})
            group.add_argument("--progress", "--no-progress", action=argparse.BooleanOptionalAction,
                               dest=f.name, default=argparse.SUPPRESS, help=argparse.SUPPRESS)
        elif origin is dict:
            group.add_argument(name, action="append", type=_parse_option, metavar="KEY=VALUE",
                               **{**kw, "help": f"{text} (repeatable)"})
        elif hint is bool:
            group.add_argument(name, action=argparse.BooleanOptionalAction, **kw)
        elif origin is tuple:
            many = len(args) == 2 and args[1] is Ellipsis
            metavar = (("N,N,..." if args[0] is int else "X,X,...") if many
                       else ",".join("X" if a is float else "N" for a in args))
            group.add_argument(name, type=_parse_tuple(args[0]), metavar=metavar, **kw)
        elif hint in (int, float):
            group.add_argument(name, type=hint, metavar="N" if hint is int else "X", **kw)
        else:
            metavar = f.metadata.get("metavar") or ("NAME" if choices else "TEXT")
            group.add_argument(name, type=str, choices=choices, metavar=metavar, **kw)


def config_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The TrainConfig fields given as flags."""
    names = {f.name for f in dataclasses.fields(TrainConfig)}
    values = {k: v for k, v in vars(args).items() if k in names}
    if "data_options" in values:
        values["data_options"] = dict(values["data_options"])
    return values


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """``--config FILE`` (if any), then the flags given on the command line.

    A value the config refuses is named as the user gave it: by its flag
    (``--d-steps must be >= 1``) when it came from a flag, by the file and key
    when it came from the file.
    """
    base = TrainConfig.load(args.config).to_dict() if args.config else {}
    overrides = config_overrides(args)
    if "objective" in overrides:
        base = {k: v for k, v in base.items() if k not in PRESET_FIELDS}
    if "lr" in overrides:
        base = {k: v for k, v in base.items() if k not in ("g_lr", "d_lr")}
    try:
        return TrainConfig.from_dict({**base, **overrides})
    except ConfigError as e:
        raise as_typed(e, overrides, args.config) from None


def as_typed(e: ConfigError, overrides: dict[str, Any], config_file: str | None = None) -> ValueError:
    """A refused config value named as the user gave it: by its flag, or by the config file and key."""
    if e.field in overrides or not config_file:
        return ValueError(f"{flag(e.field)} {e.rule}")
    return ValueError(f"{config_file}: {e}")


__all__ = ["above_zero", "add_config_flags", "add_device", "add_quiet", "add_seed", "add_threads", "as_typed",
           "config_from_args", "config_overrides", "flag", "whole"]
