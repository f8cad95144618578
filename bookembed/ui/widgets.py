"""One widget for one declared setting (``bookembed.settings``): the Train page's options and the Map page's
projection parameters are both made here, from the fields' help, bounds and defaults."""

from __future__ import annotations

from typing import Any

import streamlit as st

from bookembed.settings import Setting

_DEFAULT = object()


def setting_widget(s: Setting, where: Any = None, key: str | None = None, value: Any = _DEFAULT) -> Any:
    """One widget for ``s``: its label, help, bounds and ``value`` (by default, its declared default).

    A number box for numbers (emptied, it means the default; for a setting whose default is None it starts empty,
    showing what None means), a slider over the setting's ``slider`` span, a select box for choices, a checkbox
    for a flag. Returns the widget's value, of the setting's type.
    """
    where = st if where is None else where
    value = s.default if value is _DEFAULT else value
    if s.widget == "checkbox":
        return where.checkbox(s.label, value=bool(value), help=s.help, key=key)
    if s.widget == "select":
        options = list(s.choices or ())
        return where.selectbox(s.label, options, index=options.index(value), help=s.help, key=key)

    def typed(x):  # Streamlit wants a widget's bounds, value and step all int or all float
        return None if x is None else s.type(x)

    if s.widget == "slider":
        low, high = s.slider
        return where.slider(s.label, typed(low), typed(high), typed(value), step=typed(s.step), help=s.help, key=key)
    return where.number_input(s.label, min_value=typed(s.low), max_value=typed(s.high), value=typed(value),
                              step=typed(s.step if s.step is not None else (1 if s.type is int else None)),
                              format=s.format, placeholder=s.none, help=s.help, key=key)
