"""Settings declared once: each field of a config dataclass carries its help text and bounds next to its default.

A field made by :func:`setting` keeps, in ``dataclasses.field(metadata=...)``:

``help``
    what the setting does, as ``--help`` and the app's tooltip show it;
``label``
    the app widget's short label;
``flag``
    the command-line flag (``--negative-ratio``); a field without one is offered by neither the CLI nor the app;
``min``, ``max`` / ``above``, ``below``
    inclusive / exclusive numeric bounds;
``choices``
    the allowed values;
``none``
    what None means, for a setting whose default is None ("automatic");
``step``, ``format``, ``advanced``, ``widget``
    how the app shows it: a number box's step and format, under "Advanced", and which widget
    (``number``, ``select``, ``checkbox`` or ``slider``; by default from the type, ``choices`` and ``slider``);
``slider``
    ``(low, high)``: the span a slider offers in the app, inside the bounds (a slider needs two ends where
    the bounds may have none).

From these, :func:`problems` validates an instance (the configs' ``__post_init__`` call it and raise
one line naming each bad field and value), :func:`add_arguments` / :func:`config_from_args` make and read
the command line's flags, and ``bookembed.ui.train`` makes the Train page's widgets (and
``bookembed.ui.map`` the Map page's projection parameters). The pattern is
PyTorch-BigGraph's ``config.py`` (``attr.ib(metadata={"help": ...})`` plus a validator), with the
standard library's dataclasses.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import math
import numbers
import types
import typing
from dataclasses import dataclass
from typing import Any, Mapping

_KEYS = ("help", "label", "flag", "min", "max", "above", "below", "choices", "none", "step", "format", "advanced",
         "widget", "slider")


def setting(default: Any, help: str, **metadata: Any) -> Any:
    """A dataclass field with its ``default`` and its description (see the module's docstring for the keys).

    Returns ``dataclasses.field(default=default, metadata={"help": help, **metadata})``.
    """
    unknown = set(metadata) - set(_KEYS)
    if unknown:
        raise TypeError(f"unknown setting keys: {', '.join(sorted(unknown))}")
    return dataclasses.field(default=default, metadata={"help": help, **metadata})


@dataclass(frozen=True)
class Setting:
    """One field of a config class, as :func:`settings` reads it: type, default and metadata."""

    name: str
    type: type  # int, float, str or bool (the type without None)
    optional: bool  # None is allowed (it means ``none``)
    default: Any
    help: str = ""
    label: str = ""
    flag: str | None = None
    min: float | None = None
    max: float | None = None
    above: float | None = None
    below: float | None = None
    choices: tuple | None = None
    none: str | None = None
    step: float | None = None
    format: str | None = None
    advanced: bool = False
    widget: str = "number"
    slider: tuple | None = None  # (low, high) a slider offers, inside the bounds

    @property
    def low(self) -> float | None:
        """The lower end, inclusive or not (what a number box can offer); None if unbounded."""
        return self.min if self.min is not None else self.above

    @property
    def high(self) -> float | None:
        """The upper end, inclusive or not; None if unbounded."""
        return self.max if self.max is not None else self.below

    def bounds_text(self) -> str:
        """``at least 1``, ``in [0, 0.5)``, ``in (0, 10]``, or "" when unbounded."""
        low, high = self.low, self.high
        if low is not None and high is not None:
            return (f"in {'[' if self.min is not None else '('}{_num(low)}, "
                    f"{_num(high)}{']' if self.max is not None else ')'}")
        if low is not None:
            return f"at least {_num(low)}" if self.min is not None else f"greater than {_num(low)}"
        if high is not None:
            return f"at most {_num(high)}" if self.max is not None else f"less than {_num(high)}"
        return ""

    def problem(self, value: Any) -> str | None:
        """Why ``value`` is not allowed, in one line naming the field and the value; None if it is."""
        if value is None:
            return None if self.optional else f"{self.name} must be given, got None"
        if self.choices is not None:
            if value not in self.choices:
                return f"{self.name} must be one of {', '.join(map(str, self.choices))}, got {value!r}"
            return None
        if self.type is bool:
            return None if isinstance(value, bool) else f"{self.name} must be true or false, got {value!r}"
        if self.type in (int, float):
            if isinstance(value, bool) or not isinstance(value, numbers.Real):
                return f"{self.name} must be a number, got {value!r}"
            if self.type is int and not isinstance(value, numbers.Integral):
                return f"{self.name} must be a whole number, got {value!r}"
            broken = self._broken_bound(value)
            if broken:
                return f"{self.name} must be {broken}, got {value!r}"
        elif self.type is str and not isinstance(value, str):
            return f"{self.name} must be text, got {value!r}"
        return None

    def _broken_bound(self, value) -> str | None:
        """The bound ``value`` breaks, as words ("at least 1"), or None."""
        if (self.low is not None or self.high is not None) and not math.isfinite(value):
            return "a finite number"  # NaN would pass every comparison below
        if self.min is not None and value < self.min:
            return f"at least {_num(self.min)}"
        if self.above is not None and value <= self.above:
            return f"greater than {_num(self.above)}"
        if self.max is not None and value > self.max:
            return f"at most {_num(self.max)}"
        if self.below is not None and value >= self.below:
            return f"less than {_num(self.below)}"
        return None

    def default_text(self) -> str:
        """The default as ``--help`` and placeholders say it."""
        return (self.none or "none") if self.default is None else str(self.default)


def _num(x: float) -> str:
    return f"{x:g}" if isinstance(x, float) else str(x)


def _base_type(hint: Any) -> tuple[type, bool]:
    """``int | None`` -> (int, True); ``float`` -> (float, False); ``tuple[str, ...]`` -> (tuple, False)."""
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        return _base_type(args[0])[0], len(args) < len(typing.get_args(hint))
    return (typing.get_origin(hint) or hint), False


def settings(cls: Any) -> tuple[Setting, ...]:
    """The fields of config class ``cls`` (a dataclass, or an instance of one) in declaration order."""
    return _settings(cls if isinstance(cls, type) else type(cls))


@functools.cache
def _settings(cls: type) -> tuple[Setting, ...]:
    hints = typing.get_type_hints(cls)
    out = []
    for f in dataclasses.fields(cls):
        kind, optional = _base_type(hints[f.name])
        meta = dict(f.metadata)
        choices = tuple(meta.pop("choices")) if meta.get("choices") is not None else None
        slider = tuple(meta.pop("slider")) if meta.get("slider") is not None else None
        widget = meta.pop("widget", None) or ("select" if choices else "checkbox" if kind is bool
                                              else "slider" if slider else "number")
        out.append(Setting(name=f.name, type=kind, optional=optional or f.default is None, default=f.default,
                           label=meta.pop("label", None) or f.name.replace("_", " ").capitalize(),
                           choices=choices, widget=widget, slider=slider, **meta))
    return tuple(out)


def offered(cls: type) -> list[Setting]:
    """The settings of ``cls`` that the CLI and the app offer (those with a flag)."""
    return [s for s in settings(cls) if s.flag]


def problems(config: Any) -> list[str]:
    """One line for each field of ``config`` whose value breaks its declared type, bounds or choices."""
    found = []
    for s in settings(config):
        why = s.problem(getattr(config, s.name))
        if why:
            found.append(why)
    return found


def from_values(cls: type, values: Mapping[str, Any]):
    """``cls(**values)``, where None for a setting that cannot be None means its default (an emptied number
    box), and a whole float for an int setting becomes an int. Validation is ``cls``'s own."""
    kinds = {s.name: s for s in settings(cls)}
    given = {}
    for name, value in values.items():
        s = kinds[name]
        if value is None and not s.optional:
            continue
        if s.type is int and isinstance(value, float) and value.is_integer():
            value = int(value)
        given[name] = value
    return cls(**given)


# ---------------------------------------------------------------- command line


def cli_help(s: Setting) -> str:
    """``--help``'s text for a setting: its help, then its range and default (``%`` escaped for argparse)."""
    bounds = s.bounds_text().replace("in ", "range ", 1)
    facts = (bounds[0].upper() + bounds[1:] + "; default: " if bounds else "Default: ") + s.default_text()
    return f"{s.help.rstrip('.')}. {facts}.".replace("%", "%%")


def add_arguments(parser: argparse.ArgumentParser, cls: type) -> None:
    """One flag for each setting of ``cls`` that declares one, with its type, choices, default and help.

    Bounds are checked when the config is made (:func:`config_from_args`), so a bad value gets the same
    one-line message from the command line as from Python.
    """
    for s in offered(cls):
        if s.type is bool:
            parser.add_argument(s.flag, dest=s.name, action=argparse.BooleanOptionalAction, default=s.default,
                                help=cli_help(s))
        else:
            parser.add_argument(s.flag, dest=s.name, type=s.type, default=s.default, choices=s.choices,
                                metavar=None if s.choices else s.name.upper(), help=cli_help(s))


def config_from_args(args: argparse.Namespace, cls: type):
    """An instance of ``cls`` from the flags :func:`add_arguments` made; raises its own error on a bad value."""
    return from_values(cls, {s.name: getattr(args, s.name) for s in offered(cls) if hasattr(args, s.name)})
