"""The JSON summary: the dataset's facts, then one section per outcome area (analysis.areas.registry)."""

from __future__ import annotations

from analysis.areas.base import SummaryOptions
from analysis.areas.registry import AREAS
from analysis.cohort.model import Cohort


def cohort_section(cohort: Cohort) -> dict:
    return {
        "source": cohort.source,
        "synthetic": cohort.synthetic,
        "fingerprint_sha256": cohort.fingerprint,
        "courses": cohort.n_courses,
        "patients": cohort.n_patients,
        "rows": cohort.row_counts(),
    }


def summarize(cohort: Cohort, options: SummaryOptions | None = None) -> dict:
    options = options or SummaryOptions()
    sections = {area.key: area.summary(cohort, options) for area in AREAS if area.summary is not None}
    return {"cohort": cohort_section(cohort), **sections}
