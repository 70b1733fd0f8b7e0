"""Loading a large dataset takes a while and holds memory only while it reads.

Each stage is announced (`report_stage`) to whoever listens (`reporting_stages`), e.g. the app's
progress line; memory the readers and validator held only while loading is handed back to the
system (`release_memory`), so a cohort of a million courses leaves room for the analysis.
"""

from __future__ import annotations

import contextvars
import ctypes
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pyarrow as pa

log = logging.getLogger(__name__)
_LISTENER: contextvars.ContextVar[Callable[[str], None] | None] = contextvars.ContextVar(
    "load_stage_listener", default=None
)


def release_memory() -> None:
    """Returns freed memory of pyarrow's pool and of the C heap to the system (Linux glibc)."""
    try:
        pa.default_memory_pool().release_unused()
    except (AttributeError, pa.ArrowNotImplementedError):
        pass
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        log.debug("malloc_trim is not available here")


@contextmanager
def reporting_stages(listener: Callable[[str], None]) -> Iterator[None]:
    """Within the block, `listener(text)` hears each loading stage as it starts."""
    token = _LISTENER.set(listener)
    try:
        yield
    finally:
        _LISTENER.reset(token)


def report_stage(text: str) -> None:
    """Announces a loading stage ('Checking every value'); silent when nobody listens."""
    listener = _LISTENER.get()
    if listener is not None:
        try:
            listener(text)
        except Exception:  # progress is a courtesy: it never stops a load
            log.debug("progress listener failed", exc_info=True)
