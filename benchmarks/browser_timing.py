"""How long each page of the dashboard takes to be fully drawn in a browser, against a floor app.

Run by hand, never in the test suite (timings depend on the machine and its load):

    .venv/bin/python benchmarks/browser_timing.py [--repeats 5]

Two servers run side by side on the demo: the dashboard, and `benchmarks/floor_app.py`, which has the
same pages drawing the same number of plotly charts with no computation (the least a page can take).
A page is fully drawn when the script run has finished (`stApp`'s script state "notRunning", no spinner), the page's
title is shown, and every plotly chart on it is rendered (`.js-plotly-plot .main-svg` in each
`stPlotlyChart`), the number of charts being the one counted on a first, untimed visit.

- **cold**: a new browser session (a new context, so a new Streamlit session) opens the page's address.
- **switch**: in a session opened on the Course timeline, a click in the sidebar's navigation opens
  each page in turn (Overview, Data, ..., Course timeline), the first visit of each page in that session.

Both servers are warmed first (one untimed visit of every page): the demo is loaded once per server,
so the times are those of a new visitor, not of the server's first start. Each repetition measures
the dashboard and the floor one after the other, page by page, so that other load on the machine
falls on both. The table gives medians and the ratio page / floor.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.browser import VIEWPORT, launched_browser, running_server  # noqa: E402

# (label in the sidebar's navigation, address, title on the page)
PAGES = [
    ("Overview", "", "Overview"),
    ("Data", "data", "Data"),
    ("Clearance", "clearance", "Clearance"),
    ("Side effects", "side-effects", "Side effects"),
    ("Relapse", "relapse", "Relapse"),
    ("Labs", "labs", "Labs"),
    ("Course timeline", "timeline", "Course timeline"),
]
FLOOR_SCRIPT = "benchmarks/floor_app.py"
TIMEOUT_MS = 120_000
STEADY_S = 6

# True when the page titled `title` is fully drawn with at least `charts` plotly charts, all rendered.
DRAWN = """([title, charts]) => {
    if (!document.querySelector('[data-testid="stApp"][data-test-script-state="notRunning"]')) return false;
    if (document.querySelector('[data-testid="stSpinner"]')) return false;
    const main = document.querySelector('[data-testid="stMain"]');
    const heading = main && main.querySelector('h1');
    if (!heading || heading.textContent.trim() !== title) return false;
    const plots = main.querySelectorAll('[data-testid="stPlotlyChart"]');
    if (plots.length < charts) return false;
    for (const plot of plots) if (!plot.querySelector('.js-plotly-plot .main-svg')) return false;
    return true;
}"""
CHART_COUNT = """() => {
    const plots = document.querySelectorAll('[data-testid="stMain"] [data-testid="stPlotlyChart"]');
    const drawn = [...plots].filter((plot) => plot.querySelector('.js-plotly-plot .main-svg')).length;
    return [plots.length, drawn];
}"""


def wait_drawn(page, title: str, charts: int) -> None:
    page.wait_for_function(DRAWN, arg=[title, charts], timeout=TIMEOUT_MS, polling="raf")


def count_charts(page, title: str) -> int:
    """The page's number of plotly charts, once the count has stayed the same for STEADY_S seconds: a
    browser's first page shows its charts only once plotly's script has arrived and been parsed, which
    on a busy machine can come seconds after the script run has finished."""
    last, steady_since = None, time.monotonic()
    while time.monotonic() - steady_since < STEADY_S:
        wait_drawn(page, title, 0)
        counts = page.evaluate(CHART_COUNT)
        if counts != last:
            last, steady_since = counts, time.monotonic()
        time.sleep(0.2)
    total, drawn = last
    if total != drawn:
        print(f"  note: {title}: {total - drawn} of {total} charts never rendered", file=sys.stderr)
    return drawn


def new_page(browser):
    context = browser.new_context(viewport=VIEWPORT)
    return context, context.new_page()


def cold(browser, base_url: str, address: str, title: str, charts: int) -> float:
    context, page = new_page(browser)
    try:
        started = time.perf_counter()
        page.goto(f"{base_url}/{address}")
        wait_drawn(page, title, charts)
        return time.perf_counter() - started
    finally:
        context.close()


def switches(browser, base_url: str, charts: dict[str, int]) -> dict[str, float]:
    """A session opened on the last page, then a click to each page in turn: seconds per page."""
    context, page = new_page(browser)
    times = {}
    try:
        _, address, title = PAGES[-1]
        page.goto(f"{base_url}/{address}")
        wait_drawn(page, title, charts[title])
        for label, _, title in PAGES:
            link = page.get_by_test_id("stSidebarNav").get_by_role("link", name=label, exact=True)
            link.wait_for()
            started = time.perf_counter()
            link.click()
            wait_drawn(page, title, charts[title])
            times[title] = time.perf_counter() - started
        return times
    finally:
        context.close()


def first_visits(browser, base_url: str) -> tuple[float, dict[str, int]]:
    """Warms the server (one visit of every page) and counts each page's charts; returns the time of
    the server's very first page and the counts."""
    context, page = new_page(browser)
    try:
        started = time.perf_counter()
        page.goto(base_url)
        wait_drawn(page, "Overview", 0)
        first = time.perf_counter() - started
        counts = {}
        for label, _, title in PAGES:
            if title != "Overview":
                page.get_by_test_id("stSidebarNav").get_by_role("link", name=label, exact=True).click()
            counts[title] = count_charts(page, title)
        return first, counts
    finally:
        context.close()


def ratio(value: float, floor: float) -> str:
    return f"{value / floor:.2f}x" if floor else ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--pages", help="comma-separated titles to time (default: every page)")
    args = parser.parse_args()
    chosen = set(args.pages.split(",")) if args.pages else {title for *_, title in PAGES}

    with launched_browser() as browser, running_server() as (app_url, _):
        app_first, charts = first_visits(browser, app_url)
        print(f"charts per page: {json.dumps(charts)}", file=sys.stderr)
        floor_charts = {address or "start": charts[title] for _, address, title in PAGES}
        with running_server({"FLOOR_CHARTS": json.dumps(floor_charts)}, FLOOR_SCRIPT) as (floor_url, _):
            floor_first, _ = first_visits(browser, floor_url)
            times = {(kind, title): [] for kind in ("cold", "cold floor", "switch", "switch floor") for title in chosen}
            for repeat in range(args.repeats):
                for _, address, title in PAGES:
                    if title in chosen:
                        times["cold", title].append(cold(browser, app_url, address, title, charts[title]))
                        times["cold floor", title].append(cold(browser, floor_url, address, title, charts[title]))
                for kind, url in (("switch", app_url), ("switch floor", floor_url)):
                    for title, seconds in switches(browser, url, charts).items():
                        if title in chosen:
                            times[kind, title].append(seconds)
                print(f"repeat {repeat + 1} of {args.repeats} done", file=sys.stderr)

    print(f"Server's first page (demo loaded): dashboard {app_first:.2f} s, floor {floor_first:.2f} s.\n")
    print("| page | charts | cold | cold floor | ratio | switch | switch floor | ratio |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for _, _, title in PAGES:
        if title not in chosen:
            continue
        median = {
            kind: statistics.median(times[kind, title]) for kind in ("cold", "cold floor", "switch", "switch floor")
        }
        print(
            f"| {title} | {charts[title]} | {median['cold']:.2f} s | {median['cold floor']:.2f} s | "
            f"{ratio(median['cold'], median['cold floor'])} | {median['switch']:.2f} s | "
            f"{median['switch floor']:.2f} s | {ratio(median['switch'], median['switch floor'])} |"
        )


if __name__ == "__main__":
    main()
