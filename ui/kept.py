"""Results a page keeps with the cohort they were computed from, so that a rerun, a return to the
page and (for the demo) the next visitor reuse them instead of computing them again.

What is kept lives exactly as long as the cohort object and is reachable only through it: the
bundled demo (public, one copy for every session) shares its results between sessions; an upload's
cohort is held in its own session's store (`ui.data_source`), so its results never reach another
session and go when the session ends. Each kind of result keeps its last few keys only.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable

import streamlit as st

_LOCK = threading.Lock()


def kept(cohort, name: str, key, compute: Callable, keep: int = 8, spinner: str | None = None):
    """`compute()` for this cohort and `key` (hashable), computed once and reused; the `keep` most
    recently used keys of `name` are kept. `spinner` is shown while it computes. Callers must not
    modify what they get back."""
    store: OrderedDict = cohort.memo(("ui.kept", name), OrderedDict)
    with _LOCK:
        if key in store:
            store.move_to_end(key)
            return store[key]
    if spinner:
        with st.spinner(spinner):
            value = compute()
    else:
        value = compute()
    with _LOCK:
        store[key] = value
        while len(store) > keep:
            store.popitem(last=False)
    return value
