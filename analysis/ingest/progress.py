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


# glibc's malloc options (malloc.h): fixed thresholds switch off its sliding ones.
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
MMAP_THRESHOLD_BYTES = 2**20  # blocks from 1 MB up are mapped on their own and unmapped when freed
TRIM_THRESHOLD_BYTES = 4 * 2**20  # a heap's free top past 4 MB goes back to the system


def use_returning_memory_pool() -> str:
    """Allocations from now on go to allocators that hand freed memory back to the system.

    For a long-running server (the app), not a command that exits. Arrow's default pool (mimalloc)
    keeps freed segments for reuse: a server whose closed session's tables were all freed still held
    5-14% more than after its first upload (20 uploads of a 5 MB bundle, then the session closed). jemalloc
    purges freed pages after a second, and at once in `release_memory`; where this pyarrow has no
    jemalloc, the C library's allocator serves Arrow too. glibc's thresholds slide up as large blocks
    are freed (up to 32 MB before a block is mapped on its own, and 64 MB of free top kept by each
    thread's heap, which `malloc_trim` does not touch): they are fixed here (+8% -> +4% in the same
    measurement). Returns the Arrow pool's name.
    """
    try:
        pool = pa.jemalloc_memory_pool()
    except (NotImplementedError, pa.ArrowNotImplementedError):
        pool = pa.system_memory_pool()
    pa.set_memory_pool(pool)
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)
        libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES)
    except (OSError, AttributeError):
        log.debug("mallopt is not available here")
    return pool.backend_name


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
