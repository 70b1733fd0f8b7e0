"""The findings as a talk: one slide per area (the claims scorecard first), each with its headline chart,
its finding in one sentence and the verdicts of the claims it bears on.

The app steps through the same slides (`ui/slides.py`, `?slide=N`); `slides_html` saves them as one
self-contained HTML file for an offline talk. Slides are always suppressed as in presenter mode.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import UTC, datetime

from analysis import __version__
from analysis.areas.base import Area, Audience
from analysis.areas.charts import for_projector
from analysis.areas.claims.compute import ClaimResult, active_claim_set, article_line, evaluate_claims
from analysis.areas.claims.report import badge
from analysis.areas.registry import AREAS
from analysis.cohort.model import Cohort
from analysis.outputs.report import CHART_CONFIG, TITLE, document_head
from analysis.stats.suppression import DEFAULT_THRESHOLD

SLIDE_AREAS: tuple[Area, ...] = tuple(area for area in AREAS if area.headline)


@dataclass(frozen=True)
class Slide:
    number: int  # from 1
    title: str
    finding: str
    figure: object | None  # the headline chart, or None with `missing` saying why
    missing: str
    verdicts: tuple[ClaimResult, ...]


def slide_count() -> int:
    return len(SLIDE_AREAS)


def slide_audience(settings: dict, threshold: int = DEFAULT_THRESHOLD) -> Audience:
    """Whom slides are for: a room, so small counts are suppressed whatever the page's mode."""
    claim_set = active_claim_set(settings)
    return Audience(threshold, lambda *args: article_line(claim_set, *args), report=True)


def build_slide(
    number: int, cohort: Cohort, settings: dict, claims: list[ClaimResult], audience: Audience, result=None
) -> Slide:
    """Slide `number` (1 to slide_count()); `result` is its area's analysis when the caller has it already."""
    area = SLIDE_AREAS[number - 1]
    if result is None:
        result = claims if area.key == "claims" else area.analyse(cohort, settings)
    section = next(s for s in area.sections if s.key == area.headline)
    drawing = section.draw(cohort, result, audience)
    verdicts = tuple(claim for claim in claims if area.page and claim.page == area.page)
    finding = area.finding(cohort, result, audience) if area.finding else ""
    return Slide(
        number=number,
        title=area.report_title,
        finding=finding,
        figure=drawing.figure,
        missing="" if drawing.missing == finding else drawing.missing,  # said once, as the finding
        verdicts=verdicts,
    )


def deck(cohort: Cohort, settings: dict, threshold: int = DEFAULT_THRESHOLD) -> list[Slide]:
    audience = slide_audience(settings, threshold)
    claims = evaluate_claims(cohort, settings)
    return [build_slide(n, cohort, settings, claims, audience) for n in range(1, slide_count() + 1)]


SLIDE_STYLE = """
body { margin: 0; font-family: system-ui, sans-serif; background: #fff; color: #222; }
.slide { display: none; box-sizing: border-box; min-height: 100vh; padding: 3vh 4vw 10vh; }
.slide.shown { display: block; }
.slide h1 { font-size: 2.6rem; margin: 0 0 1rem; }
.slide .finding { font-size: 1.7rem; line-height: 1.35; margin: 0 0 1.5rem; }
.slide .verdicts { list-style: none; padding: 0; font-size: 1.25rem; }
.slide .verdicts li { margin: 0.4rem 0; }
.badge { display: inline-block; color: #fff; border-radius: 4px; padding: 0 0.45em; font-size: 0.95em; }
.missing { font-size: 1.4rem; color: #555; }
nav.controls { position: fixed; bottom: 0; left: 0; right: 0; display: flex; gap: 1rem; align-items: center;
  justify-content: center; padding: 0.6rem; background: #f4f4f4; font-size: 1.2rem; }
nav.controls button { font-size: 1.2rem; padding: 0.3rem 1.2rem; }
.source { font-size: 0.85rem; color: #666; }
"""

SLIDE_SCRIPT = """
(function () {
  const slides = Array.from(document.querySelectorAll('.slide'));
  const counter = document.getElementById('counter');
  function show(n) {
    n = Math.max(1, Math.min(slides.length, n || 1));
    slides.forEach((s, i) => s.classList.toggle('shown', i === n - 1));
    counter.textContent = 'Slide ' + n + ' of ' + slides.length;
    if (location.hash !== '#' + n) history.replaceState(null, '', '#' + n);
    window.dispatchEvent(new Event('resize'));  // plotly sizes a chart that was hidden
    return n;
  }
  let current = show(parseInt(location.hash.slice(1), 10));
  document.getElementById('previous').onclick = () => { current = show(current - 1); };
  document.getElementById('next').onclick = () => { current = show(current + 1); };
  document.addEventListener('keydown', (e) => {
    if (e.key === 'ArrowRight' || e.key === 'PageDown' || e.key === ' ') { current = show(current + 1); }
    if (e.key === 'ArrowLeft' || e.key === 'PageUp') { current = show(current - 1); }
  });
  window.addEventListener('hashchange', () => { current = show(parseInt(location.hash.slice(1), 10)); });
})();
"""


def slide_markup(slide: Slide) -> str:
    if slide.figure is not None:
        chart = for_projector(slide.figure).to_html(
            full_html=False, include_plotlyjs=False, config=CHART_CONFIG, div_id=f"slide-chart-{slide.number}"
        )
    else:
        chart = f'<p class="missing">{html.escape(slide.missing)}</p>' if slide.missing else ""
    verdicts = "".join(
        f"<li>{badge(claim.verdict)} <strong>{html.escape(claim.id)}</strong> “{html.escape(claim.quote)}”</li>"
        for claim in slide.verdicts
    )
    return (
        f'<section class="slide" id="slide-{slide.number}" data-slide="{slide.number}">'
        f"<h1>{html.escape(slide.title)}</h1>"
        f'<p class="finding">{html.escape(slide.finding)}</p>{chart}'
        + (f'<ul class="verdicts">{verdicts}</ul>' if verdicts else "")
        + "</section>"
    )


def slides_html(
    cohort: Cohort, settings: dict, *, threshold: int = DEFAULT_THRESHOLD, generated_at: datetime | None = None
) -> str:
    """The slides as one HTML file: no request leaves it (plotly inline, a content policy forbidding fetches),
    arrow keys and buttons step through it, and `#3` in its address opens slide 3."""
    when = (generated_at or datetime.now(UTC)).astimezone(UTC)
    body = "".join(slide_markup(slide) for slide in deck(cohort, settings, threshold))
    source = html.escape(cohort.label)
    return f"""{document_head(f"{TITLE}: slides, {source}", SLIDE_STYLE)}
<body>
{body}
<nav class="controls"><button id="previous" type="button">Previous</button><span id="counter"></span>
<button id="next" type="button">Next</button><span class="source">{source} · counts under {threshold} suppressed ·
made {when:%Y-%m-%d %H:%M} UTC by isotretinoin-outcomes {html.escape(__version__)}</span></nav>
<script type="text/javascript">{SLIDE_SCRIPT}</script>
</body>
</html>
"""
