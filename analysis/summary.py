"""The JSON summary: one section per outcome area, each registered here by its module."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from .cohort import Cohort


@dataclass(frozen=True)
class SummaryOptions:
    """Definitions and thresholds chosen by the user; areas read the keys they know."""

    group_by: str | None = None
    settings: dict = field(default_factory=dict)


def cohort_section(cohort: Cohort, options: SummaryOptions) -> dict:
    return {
        "source": cohort.source,
        "synthetic": cohort.synthetic,
        "fingerprint_sha256": cohort.fingerprint,
        "courses": cohort.n_courses,
        "patients": cohort.n_patients,
        "rows": cohort.row_counts(),
    }


# Section name -> function(cohort, options) -> JSON-ready dict. Outcome areas add theirs here.
SUMMARY_SECTIONS: dict[str, Callable[[Cohort, SummaryOptions], dict]] = {
    "cohort": cohort_section,
}


def summarize(cohort: Cohort, options: SummaryOptions | None = None) -> dict:
    options = options or SummaryOptions()
    return {name: section(cohort, options) for name, section in SUMMARY_SECTIONS.items()}
