"""Data shown as text: Markdown escaping and error boxes whose detail comes from the data."""

from __future__ import annotations

import re

import streamlit as st

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:=&^\"'%@])")


def escape_markdown(text: object) -> str:
    """Text that Streamlit's Markdown shows literally: punctuation backslash-escaped, one line.

    Use it wherever data (titles, file names, error messages) must go through
    a Markdown element; prefer ``st.text`` or ``st.code`` where they fit.
    """
    s = re.sub(r"\s+", " ", "" if text is None else str(text)).strip()
    return _MD_SPECIAL.sub(r"\\\1", s)


def show_error(message: str, detail: object) -> None:
    """An error box: our own sentence, then the detail (from the data) escaped."""
    st.error(f"{message} {escape_markdown(detail)}", icon=":material/error:")
