"""Settings kept in the session and in the address, whose widgets are drawn only when asked for.

A widget bound to the address (`bind="query-params"`) must be drawn on every run, or Streamlit drops
its parameter from the address. The Overview's definitions and thresholds sit in a closed expander,
so they are kept here instead: at the start of each run `follow_address` reads the address's
parameters into the session, writes back a changed value the address lost (a page switch drops
parameters no drawn widget is bound to) and removes a parameter equal to its default. The widgets
(`setting_widget`), drawn only while their expander is open, start from the value kept and write a
change to both the session and the address. A link therefore carries every changed setting and opens
with them applied, open or closed.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import streamlit as st

STATE = "kept_settings"  # key -> value, for the values that differ from their default
TRUE_TEXTS = ("true", "1", "yes", "on")
FALSE_TEXTS = ("false", "0", "no", "off")


@dataclass(frozen=True)
class Setting:
    """One setting: its address parameter (also its widget's key), label, default and allowed values."""

    key: str
    label: str
    default: Any  # bool: a toggle; int or float: a number field; with `choices`, a select box
    help: str = ""
    choices: Mapping[str, str] | None = None  # option -> the words shown and written in the address
    low: float | None = None
    high: float | None = None
    step: float | None = None
    format: str | None = None

    def parse(self, text: str) -> Any:
        """The value an address's text stands for (a number clamped to its range); None if it stands for none."""
        if self.choices is not None:
            return next((option for option, words in self.choices.items() if text in (option, words)), None)
        if isinstance(self.default, bool):
            word = text.strip().lower()
            return True if word in TRUE_TEXTS else False if word in FALSE_TEXTS else None
        try:
            number = float(text)
        except ValueError:
            return None
        if not math.isfinite(number):
            return None
        if self.low is not None:
            number = max(number, self.low)
        if self.high is not None:
            number = min(number, self.high)
        return int(round(number)) if isinstance(self.default, int) else number

    def text(self, value: Any) -> str:
        """How the address writes the value."""
        if self.choices is not None:
            return self.choices[value]
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, float) and value.is_integer():
            return str(int(value))
        return str(value)

    def changed(self, value: Any) -> bool:
        """Whether the value differs from the default."""
        if isinstance(self.default, float):
            return abs(float(value) - self.default) > 1e-9
        return value != self.default


def _kept() -> dict:
    return st.session_state.setdefault(STATE, {})


def value(setting: Setting) -> Any:
    """The setting's value in this session: the one kept, else its default."""
    return _kept().get(setting.key, setting.default)


def _keep(setting: Setting, new: Any) -> None:
    if setting.changed(new):
        _kept()[setting.key] = new
    else:
        _kept().pop(setting.key, None)


def _write_address(setting: Setting, new: Any) -> None:
    if setting.changed(new):
        text = setting.text(new)
        if st.query_params.get(setting.key) != text:
            st.query_params[setting.key] = text
    elif setting.key in st.query_params:
        del st.query_params[setting.key]


def follow_address(settings: Iterable[Setting]) -> None:
    """At the start of a run: the address's values into the session, and the session's changed values
    back into an address that lost them; a default or unusable value leaves the address."""
    for setting in settings:
        text = st.query_params.get(setting.key)
        if text is None:
            _write_address(setting, value(setting))
            continue
        new = setting.parse(text)
        if new is None:  # a value the setting cannot take: the one kept stays
            _write_address(setting, value(setting))
            continue
        if new != value(setting):
            _keep(setting, new)
            if setting.key in st.session_state:  # its widget was drawn before: it shows the link's value
                st.session_state[setting.key] = new
        if not setting.changed(new):
            del st.query_params[setting.key]


def setting_widget(setting: Setting, where=None) -> Any:
    """The setting's widget (in `where`, a column or container), starting from the value kept; a change
    is kept and written to the address. Returns the value."""
    where = where if where is not None else st
    if setting.key not in st.session_state:
        st.session_state[setting.key] = value(setting)
    common = {"key": setting.key, "help": setting.help or None}
    if setting.choices is not None:
        chosen = where.selectbox(setting.label, list(setting.choices), format_func=setting.choices.get, **common)
    elif isinstance(setting.default, bool):
        chosen = where.toggle(setting.label, **common)
    else:
        chosen = where.number_input(
            setting.label,
            min_value=setting.low,
            max_value=setting.high,
            step=setting.step,
            format=setting.format,
            **common,
        )
    if chosen != value(setting):
        _keep(setting, chosen)
        _write_address(setting, chosen)
    return chosen
