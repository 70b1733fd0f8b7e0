"""Splitting courses into groups (by sex, age band, dose band, a custom column...), one rule for every area.

A course's group is the value of a course column, or a grouping derived from several (adult or
adolescent from age or age band; a prior oral/systemic antibiotic from the prior treatments).
Unknown values are missing, never a group of their own, except where a table shows them, and
then as `MISSING_LABEL`, written the same way everywhere (`group_text`: 3.0 reads "3").
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from analysis.cohort.filters import COLUMN_LABELS, MISSING_LABEL
from analysis.cohort.model import Cohort

SYSTEMIC_ANTIBIOTIC = re.compile(r"(?:oral|systemic)[ _-]?antibiotic|cycline", re.IGNORECASE)


# Groupings the pages and the report offer, in this order: key -> label (custom columns are offered by name too).
GROUPINGS = {
    "sex": COLUMN_LABELS["sex"],
    "age_group": "Adult (18+) or adolescent",
    **{
        key: COLUMN_LABELS[key]
        for key in ("age_band", "baseline_iga", "daily_dose_band", "cumulative_dose_band", "site", "course_number")
    },
    "prior_systemic_antibiotic": "Prior oral/systemic antibiotic",
    "end_reason": "Why the course ended",
}


def grouping_options(cohort: Cohort, keys: tuple[str, ...] | None = None) -> dict[str, str]:
    """Groupings this cohort can be split by (with at least two known values): key -> label;
    `keys` chooses among `GROUPINGS` (and their order), custom columns are always offered."""
    offered = GROUPINGS if keys is None else {key: GROUPINGS[key] for key in keys}
    options = {}
    for key, label in {**offered, **{c: c for c in cohort.custom_columns}}.items():
        values = group_values(cohort, key)
        if values is not None and values.nunique() >= 2:
            options[key] = label
    return options


def group_values(cohort: Cohort, key: str) -> pd.Series | None:
    """The group of each course (row order), NaN where unknown; None when the cohort lacks the field."""
    return course_groups(cohort.courses, key)


def course_groups(courses: pd.DataFrame, key: str, rows: np.ndarray | None = None) -> pd.Series | None:
    """`group_values` of the courses, or of the courses marked by `rows`."""
    derived = DERIVED_GROUPINGS
    if key not in derived and key not in courses:
        return None
    groups = derived[key](courses) if key in derived else courses[key].astype("object").where(courses[key].notna())
    groups = groups if rows is None else groups[rows]
    return None if key not in derived and groups.isna().all() else groups


def adult_group(courses: pd.DataFrame) -> pd.Series:
    """'adult (18+)' or 'adolescent (<18)' from age, else from the age band."""
    if "age" in courses:
        age = pd.to_numeric(courses["age"], errors="coerce").to_numpy(dtype="float", na_value=np.nan)
    else:
        age = np.full(len(courses), np.nan)
    band = courses["age_band"]
    by_age = ~np.isnan(age)
    adult = np.where(by_age, age >= 18, band.to_numpy(dtype=object) != "<18")
    labels = np.where(adult, "adult (18+)", "adolescent (<18)").astype(object)
    labels[~(by_age | band.notna().to_numpy())] = np.nan
    return pd.Series(labels, index=courses.index, dtype=object)


def prior_systemic_antibiotic(courses: pd.DataFrame) -> pd.Series:
    """'yes' when the prior treatments name an oral/systemic antibiotic (e.g. doxycycline), 'no' if not, NaN if unknown."""
    codes, treatments = pd.factorize(courses["prior_treatments"].astype("object"))  # each distinct text searched once
    found = pd.Index(treatments, dtype=object).astype(str).str.contains(SYSTEMIC_ANTIBIOTIC)
    labels = np.append(np.where(found, "yes", "no").astype(object), np.nan)
    return pd.Series(labels[codes], index=courses.index, dtype=object)


DERIVED_GROUPINGS = {"age_group": adult_group, "prior_systemic_antibiotic": prior_systemic_antibiotic}


def group_text(values: pd.Series) -> pd.Series:
    """Each value as the text a table or a legend shows: whole numbers without ".0" (3.0 -> "3"),
    missing values as `MISSING_LABEL`."""
    values = values.astype("object")
    text = values.map(lambda v: str(int(v)) if isinstance(v, float) and v.is_integer() else str(v))
    return text.where(values.notna(), MISSING_LABEL)
