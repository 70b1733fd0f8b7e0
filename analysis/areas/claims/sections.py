"""The claims scorecard chart, declared once: the Overview page and the report draw it under the scorecard."""

from __future__ import annotations

from analysis.areas.base import Audience, Drawing, Section
from analysis.areas.claims.compute import verdict_counts
from analysis.cohort.model import Cohort


def scorecard(cohort: Cohort, results: list, audience: Audience) -> Drawing:
    # plotly loads only when a section is drawn, never for the JSON summary
    from analysis.areas.claims import figures as claims_figures

    subtitle = f"{audience.count(cohort.n_courses)} courses" + (" of synthetic demo data" if cohort.synthetic else "")
    return Drawing(figure=claims_figures.scorecard_figure(results, subtitle, suppress_below=audience.suppress_below))


SECTIONS = (Section("claims_scorecard", "Claims scorecard", scorecard),)


def finding(cohort: Cohort, results: list, audience: Audience) -> str:
    counts = ", ".join(f"{n} {verdict}" for verdict, n in verdict_counts(results).items() if n)
    return f"Of {len(results)} claims tested on these courses: {counts}."
