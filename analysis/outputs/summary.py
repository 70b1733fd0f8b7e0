"""The JSON summary: the dataset's facts, then one section per outcome area (analysis.areas.registry)."""

from __future__ import annotations

from analysis.areas.base import SummaryOptions
from analysis.areas.registry import AREAS
from analysis.cohort.model import Cohort
from analysis.ingest.validation import ValidationReport


def cohort_section(cohort: Cohort) -> dict:
    return {
        "source": cohort.source,
        "synthetic": cohort.synthetic,
        "fingerprint_sha256": cohort.fingerprint,
        "courses": cohort.n_courses,
        "patients": cohort.n_patients,
        "rows": cohort.row_counts(),
    }


def summarize(cohort: Cohort, options: SummaryOptions | None = None, report: ValidationReport | None = None) -> dict:
    """The summary; with the load's report, a last section says how much of the input was used as written."""
    options = options or SummaryOptions()
    sections = {area.key: area.summary(cohort, options) for area in AREAS if area.summary is not None}
    validation = {"validation": report.counts()} if report is not None else {}
    return {"cohort": cohort_section(cohort), **sections, **validation}
