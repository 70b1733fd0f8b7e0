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
    "adverse_events": lambda cohort, options: __import__("analysis.side_effects", fromlist=["_"]).summary_section(cohort, options),
    "clearance": lambda cohort, options: __import__("analysis.clearance", fromlist=["_"]).clearance_section(cohort, options),
    "relapse": lambda cohort, options: __import__("analysis.relapse", fromlist=["_"]).summary_section(cohort, options),
    "labs": lambda cohort, options: __import__("analysis.labs", fromlist=["_"]).summary_section(cohort, options),
    "claims": lambda cohort, options: __import__("analysis.claims", fromlist=["_"]).summary_section(cohort, options),
}


def summarize(cohort: Cohort, options: SummaryOptions | None = None) -> dict:
    options = options or SummaryOptions()
    return {name: section(cohort, options) for name, section in SUMMARY_SECTIONS.items()}
