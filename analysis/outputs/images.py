"""Chart images (PNG for slides, SVG for papers) drawn by kaleido in the machine's own Chromium.

Nothing is fetched from the network: plotly.js comes from the installed plotly package, and
MathJax, which kaleido would otherwise load from a CDN, is switched off (no chart uses LaTeX).
One headless Chromium is started on the first export and reused, so later images take a fraction
of a second instead of the 2-4 s of a cold start.
"""

from __future__ import annotations

import os
import threading

import plotly.graph_objects as go

FORMATS = {"png": "image/png", "svg": "image/svg+xml"}
DEFAULT_WIDTH = 1100
DEFAULT_HEIGHT = 500
PNG_SCALE = 2  # sharp on projectors and in print
TITLE_PADDING = 16  # pixels between a left-aligned title and the image's edge
NO_BROWSER_MESSAGE = (
    "Chart images need Chrome or Chromium on the machine running the app, and none was found. "
    "Install it (on Debian: apt-get install chromium) or name it in the BROWSER_PATH environment variable."
)

_lock = threading.Lock()  # kaleido's shared browser answers one request at a time


class ImageExportUnavailable(RuntimeError):
    """No browser to draw the image with; the message says what to install."""


def browser_path() -> str | None:
    """The Chromium-type browser kaleido will use (BROWSER_PATH first, then PATH), or None."""
    from choreographer.browsers.chromium import Chromium

    chosen = os.environ.get("BROWSER_PATH") or Chromium.find_browser(skip_local=False)
    return chosen if chosen and os.path.isfile(chosen) and os.access(chosen, os.X_OK) else None


def export_available() -> bool:
    return browser_path() is not None


def figure_image(fig: go.Figure, fmt: str, width: int | None = None, height: int | None = None) -> bytes:
    """The chart as PNG or SVG bytes, at the chart's own height (or `height`) and `width` pixels."""
    if fmt not in FORMATS:
        raise ValueError(f"Image format must be one of {', '.join(FORMATS)}, not {fmt!r}.")
    if not export_available():
        raise ImageExportUnavailable(NO_BROWSER_MESSAGE)
    import kaleido

    options = {"format": fmt, "width": width or DEFAULT_WIDTH, "height": height or fig.layout.height or DEFAULT_HEIGHT}
    if fmt == "png":
        options["scale"] = PNG_SCALE
    with _lock:
        kaleido.start_sync_server(mathjax=False, silence_warnings=True)
        image = kaleido.calc_fig_sync(with_margin(fig), opts=options)
    return image if isinstance(image, bytes) else str(image).encode("utf-8")


def with_margin(fig: go.Figure) -> dict:
    """The chart as a dict whose left-aligned title keeps a little space from the image's edge (the page has its own)."""
    spec = fig.to_dict()
    title = spec.setdefault("layout", {}).setdefault("title", {})
    title.setdefault("pad", {}).setdefault("l", TITLE_PADDING)
    return spec
