"""No text on top of other text, and none cut off, checked in a real browser.

Every page is opened on the demo and on an uploaded bundle, at 1440 x 900 (desktop), 390 x 844 (a phone)
and in presenter mode at 1920 x 1080 (a projector). For every plotly chart drawn, the boxes of its title
and subtitle lines, legend, axis titles and annotations must not overlap one another and must lie inside
the chart; an annotation must not sit on the bars or on a line drawn across the plot; a marker must not be
cut in half by the edge of the plot. On a phone, a chart keeps at least 200 px of plot height and its tick
labels horizontal, and the page never scrolls sideways. A metric, badge, link or table header that is cut
(its text wider than its box) is a failure too. Failures are reported as one list:
page, viewport, chart title, and which two boxes.

One server and one browser for the whole module; a page is checked at desktop and phone width by resizing
the same tab, then again with presenter mode switched on, so each page is drawn three times per dataset.
"""

from __future__ import annotations

import io
import re
import shutil
import zipfile

import pytest

from tests.browser import CHROMIUM, browser_page, running_app, wait_for_app

pytestmark = [pytest.mark.browser, pytest.mark.skipif(not shutil.which(CHROMIUM), reason="chromium is not installed")]

DESKTOP = {"width": 1440, "height": 900}
PHONE = {"width": 390, "height": 844}
PROJECTOR = {"width": 1920, "height": 1080}
PAGES = ("Overview", "Clearance", "Side effects", "Relapse", "Labs", "Course timeline", "Data")
MIN_PHONE_PLOT_HEIGHT = 200
UPLOAD_COURSES, UPLOAD_SEED = 240, 7

# Runs in the page: every box worth checking, in CSS pixels. Boxes overlapping by at most SLACK px
# (antialiasing, a descender touching the next line) do not count.
MEASURE = r"""(phone) => {
  const SLACK = 1.5;
  const box = r => ({l: r.left, t: r.top, r: r.right, b: r.bottom, w: r.width, h: r.height});
  const shown = b => b.w > 0.5 && b.h > 0.5;
  const meets = (a, b) => Math.min(a.r, b.r) - Math.max(a.l, b.l) > SLACK && Math.min(a.b, b.b) - Math.max(a.t, b.t) > SLACK;
  const inside = (a, outer) => a.l >= outer.l - SLACK && a.r <= outer.r + SLACK && a.t >= outer.t - SLACK && a.b <= outer.b + SLACK;
  const short = text => (text || '').replace(/\s+/g, ' ').trim().slice(0, 70);
  const problems = [];
  for (const plot of document.querySelectorAll('[data-testid="stPlotlyChart"] .js-plotly-plot')) {
    const svg = plot.querySelector('.main-svg');
    if (!svg) continue;
    const chart = box(plot.getBoundingClientRect());
    if (!shown(chart) || plot.closest('details:not([open])')) continue;
    const titleNode = plot.querySelector('.g-gtitle .gtitle');
    const title = short(titleNode ? (titleNode.querySelector('tspan.line') || titleNode).textContent : '') || '(untitled)';
    const report = (what) => problems.push({chart: title, what});
    const items = [];
    // A line of text's box holds the font's full ascent and descent: its glyphs fill about the middle
    // 70%, so a line may touch the next one's box without any letter touching. A legend's box has padding.
    const add = (kind, node, text) => {
      const r = box(node.getBoundingClientRect());
      if (!shown(r)) return;
      const inset = kind === 'legend' ? 2 : r.h * 0.15;
      const glyphs = {...r, t: r.t + inset, b: r.b - inset};
      items.push({kind, text: short(text ?? node.textContent), box: r, glyphs});
    };
    if (titleNode) {
      const lines = titleNode.querySelectorAll('tspan.line');
      if (lines.length) lines.forEach((line, i) => add(i === 0 ? 'title' : 'subtitle', line));
      else add('title', titleNode);
    }
    plot.querySelectorAll('.infolayer .legend').forEach(legend => add('legend', legend.querySelector('.bg') || legend,
      [...legend.querySelectorAll('.legendtext')].map(t => t.textContent).join(' / ')));
    plot.querySelectorAll('.infolayer [class^="g-x"] text, .infolayer [class^="g-y"] text').forEach(t => add('axis title', t));
    plot.querySelectorAll('.annotation .annotation-text').forEach(t => add('annotation', t));
    const label = item => `${item.kind} "${item.text}"`;
    for (const item of items) {
      if (!inside(item.glyphs, chart)) report(`${label(item)} is cut by the edge of the chart`);
    }
    for (let i = 0; i < items.length; i++) {
      for (let j = i + 1; j < items.length; j++) {
        if (meets(items[i].glyphs, items[j].glyphs)) report(`${label(items[i])} overlaps ${label(items[j])}`);
      }
    }
    // Plot areas: one drag rectangle per subplot, exactly the area inside the axes.
    const areas = [...plot.querySelectorAll('.draglayer .nsewdrag')].map(n => box(n.getBoundingClientRect())).filter(shown);
    const bars = [...plot.querySelectorAll('.barlayer .point path')].map(n => box(n.getBoundingClientRect())).filter(shown);
    const lines = [...plot.querySelectorAll('.shapelayer path')].map(n => box(n.getBoundingClientRect()))
      .filter(r => (r.w <= 4 && r.h > 20) || (r.h <= 4 && r.w > 20));
    for (const item of items.filter(item => item.kind === 'annotation')) {
      if (bars.some(bar => meets(bar, item.glyphs))) report(`${label(item)} sits on the bars`);
      if (lines.some(line => meets(line, item.glyphs))) report(`${label(item)} sits on a line`);
    }
    // Markers cut by the edge of the plot (plotly clips them there unless cliponaxis is off).
    plot.querySelectorAll('.scatterlayer .trace').forEach(trace => {
      const clipped = trace.closest('[clip-path]');
      if (!clipped) return;
      for (const point of trace.querySelectorAll('.points .point')) {
        const r = box(point.getBoundingClientRect());
        if (!shown(r) || r.w < 4) continue;
        const area = areas.find(a => r.l + r.w / 2 >= a.l - 1 && r.l + r.w / 2 <= a.r + 1 && r.t + r.h / 2 >= a.t - 1 && r.t + r.h / 2 <= a.b + 1);
        if (area && !inside(r, area)) { report('a marker is cut in half by the edge of the plot'); return; }
      }
    });
    if (phone) {
      const top = Math.min(...areas.map(a => a.t)), bottom = Math.max(...areas.map(a => a.b));
      if (areas.length && bottom - top < 200) report(`the plot is only ${Math.round(bottom - top)} px high`);
      const turned = [...plot.querySelectorAll('.xtick text, .ytick text')].filter(t => /rotate\((?!0[,)])[-\d.]/.test(t.getAttribute('transform') || ''));
      if (turned.length) report(`tick labels turned on their side ("${short(turned[0].textContent)}")`);
    }
  }
  // Text cut by its box: metrics, badges, page links, table headers.
  const main = document.querySelector('[data-testid="stMain"]');
  const cutSelectors = [
    ['metric value', '[data-testid="stMetricValue"], [data-testid="stMetricValue"] *'],
    ['metric label', '[data-testid="stMetricLabel"], [data-testid="stMetricLabel"] *'],
    ['page link', '[data-testid="stPageLink"] a, [data-testid="stPageLink"] a *'],
    ['badge', '[data-testid="stMarkdownContainer"] span.stMarkdownBadge'],
    ['table header', 'th, th *'],
  ];
  for (const [kind, selector] of cutSelectors) {
    for (const node of main.querySelectorAll(selector)) {
      if (node.closest('details:not([open])') || !shown(box(node.getBoundingClientRect()))) continue;
      if (node.scrollWidth > node.clientWidth + 1 && node.clientWidth > 0) {
        problems.push({chart: '', what: `${kind} "${short(node.textContent)}" is cut (${node.scrollWidth} px of text in ${node.clientWidth} px)`});
      }
    }
  }
  const page = document.documentElement;
  if (page.scrollWidth > page.clientWidth + 1) {
    problems.push({chart: '', what: `the page scrolls sideways (${page.scrollWidth} px wide in ${page.clientWidth} px)`});
  }
  return problems;
}"""

HEADING = "() => document.querySelector('[data-testid=\"stMain\"] h1')?.textContent.trim()"

# The script run over, no spinner, and the same number of elements over three polls in a row.
SCRIPT_DONE = """() => {
  const count = document.querySelectorAll('[data-testid="stMain"] *').length;
  const busy = !document.querySelector('[data-testid="stApp"][data-test-script-state="notRunning"]')
    || document.querySelector('[data-testid="stMain"] [data-testid="stSpinner"], [data-testid="stStatusWidget"]');
  window.__layoutPolls = (!busy && window.__layoutCount === count) ? (window.__layoutPolls || 0) + 1 : 0;
  window.__layoutCount = count;
  return window.__layoutPolls >= 3;
}"""

# Every plotly chart on the page drawn at the width of its container.
CHARTS_DRAWN = """() => [...document.querySelectorAll('[data-testid="stPlotlyChart"]')].every(holder => {
  if (holder.closest('details:not([open])') || holder.getBoundingClientRect().width === 0) return true;
  const svg = holder.querySelector('.main-svg');
  return svg && Math.abs(svg.getBoundingClientRect().width - holder.getBoundingClientRect().width) < 3;
})"""


def upload_bundle() -> bytes:
    """A clinic's export as one zip of the four canonical CSV files: UPLOAD_COURSES generated courses whose
    labs hold only ALT and triglycerides, without reference limits or pregnancy tests."""
    from analysis.demo import generate_cohort

    tables = generate_cohort(UPLOAD_COURSES, UPLOAD_SEED)
    labs = tables["labs"]
    tables["labs"] = labs[labs["test"].isin(["ALT", "TG"])].drop(columns=["lower_limit", "upper_limit"])
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, table in tables.items():
            archive.writestr(f"{name}.csv", table.to_csv(index=False))
    return buffer.getvalue()


def go_to(page, name: str) -> None:
    """Opens a page from the sidebar menu (clicked from the script, so a collapsed sidebar does not matter)."""
    if page.evaluate(HEADING) != name:
        page.get_by_test_id("stSidebarNav").get_by_role("link", name=name, exact=True).dispatch_event("click")
    page.wait_for_function(f"() => ({HEADING})() === {name!r}", timeout=60_000)
    finished(page)


def finished(page) -> None:
    """The script run is over (no status widget, the page unchanged for a moment) and every chart is drawn."""
    page.wait_for_function(SCRIPT_DONE, timeout=60_000, polling=250)
    wait_for_app(page)
    settle(page)


def settle(page) -> None:
    page.wait_for_function(CHARTS_DRAWN, timeout=60_000)
    page.wait_for_timeout(400)  # plotly's second pass (automargin) after the first draw


def check(page, viewport: dict, phone: bool = False) -> list[dict]:
    if page.viewport_size != viewport:
        page.set_viewport_size(viewport)
        page.wait_for_timeout(300)
        settle(page)
    return page.evaluate(MEASURE, phone)


def load_upload(page, base_url: str) -> None:
    page.goto(f"{base_url}/data")
    wait_for_app(page)
    page.get_by_test_id("stFileUploaderDropzoneInput").first.set_input_files(
        files=[{"name": "clinic.zip", "mimeType": "application/zip", "buffer": upload_bundle()}]
    )
    page.get_by_role("button", name="Use this data").click()
    page.get_by_text(re.compile(r"rows? read, \d+ kept")).first.wait_for(timeout=90_000)
    finished(page)


def presenter_on(page) -> None:
    page.locator('[data-testid="stSidebar"] label:has-text("Presenter mode") input').dispatch_event("click")
    page.wait_for_function("() => new URL(location.href).searchParams.get('presenter') === '1'", timeout=60_000)
    finished(page)


def survey(page, dataset: str, screenshots=None, pages=PAGES) -> list[str]:
    """Every page at desktop and phone width, then in presenter mode at projector size: the failures found."""
    failures = []

    def record(name: str, viewport_name: str, found: list[dict]) -> None:
        lines = [(f' chart "{p["chart"]}":' if p["chart"] else "") + f" {p['what']}" for p in found]
        for line in dict.fromkeys(lines):  # once each, in order, with how often it was seen
            times = lines.count(line)
            failures.append(f"{dataset} · {name} · {viewport_name}:{line}" + (f" (x{times})" if times > 1 else ""))
        if screenshots is not None:
            slug = re.sub(r"\W+", "_", f"{dataset}_{name}_{viewport_name}".lower())
            page.screenshot(path=str(screenshots / f"{slug}.png"), full_page=True)

    for name in pages:
        page.set_viewport_size(DESKTOP)
        go_to(page, name)
        record(name, "desktop 1440x900", check(page, DESKTOP))
        record(name, "phone 390x844", check(page, PHONE, phone=True))
    page.set_viewport_size(PROJECTOR)
    presenter_on(page)
    for name in pages:
        if name == "Course timeline":
            continue  # hidden in presenter mode
        go_to(page, name)
        record(name, "presenter 1920x1080", check(page, PROJECTOR))
    return failures


@pytest.fixture(scope="module")
def app():
    with running_app() as base_url, browser_page() as page:
        yield base_url, page


def test_no_text_overlaps_or_is_cut_on_the_demo(app):
    base_url, page = app
    page.goto(base_url)
    wait_for_app(page)
    failures = survey(page, "demo")
    assert not failures, f"{len(failures)} layout failures:\n" + "\n".join(failures)


def test_no_text_overlaps_or_is_cut_on_an_uploaded_bundle(app):
    base_url, page = app
    load_upload(page, base_url)
    failures = survey(page, "upload")
    assert not failures, f"{len(failures)} layout failures:\n" + "\n".join(failures)


if __name__ == "__main__":  # python -m tests.test_browser_layout [screenshot folder]: the list, without pytest
    import sys
    import time
    from pathlib import Path

    folder = Path(sys.argv[1]) if len(sys.argv) > 1 and sys.argv[1] else None
    if folder:
        folder.mkdir(parents=True, exist_ok=True)
    which = sys.argv[2] if len(sys.argv) > 2 else "both"
    pages = sys.argv[3].split(",") if len(sys.argv) > 3 else PAGES
    started = time.monotonic()
    with running_app() as base_url, browser_page() as page:
        found = []
        if which in ("both", "demo"):
            page.goto(base_url)
            wait_for_app(page)
            found += survey(page, "demo", folder, pages)
        if which in ("both", "upload"):
            load_upload(page, base_url)
            found += survey(page, "upload", folder, pages)
    print("\n".join(found))
    print(f"{len(found)} failures in {time.monotonic() - started:.0f} s")
