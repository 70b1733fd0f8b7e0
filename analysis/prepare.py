"""Work done once when a dataset is loaded, so that no page, claim or summary repeats it.

- Lab results are harmonised (`analysis.lab_units`: one name and one unit per test, default
  limits) as the validated table is built; what cannot be converted becomes findings of the
  validation report, naming file, row and column. `analysis.labs` then skips the conversion.
- Memory the readers and validator held only while loading is handed back to the system, so a
  cohort of a million courses leaves room for the analysis.
"""
from __future__ import annotations

import ctypes
import logging

import numpy as np
import pandas as pd
import pyarrow as pa

from .lab_units import GIVEN_COLUMNS, exclusion_reasons, harmonisation_findings, harmonised_columns
from .validation import ReportBuilder

log = logging.getLogger(__name__)
CONVERTED_COLUMNS = ("test", "unit", "value", "lower_limit", "upper_limit", "lower_limit_source", "upper_limit_source")


def harmonise_labs(labs: pd.DataFrame, files: list[str], builder: ReportBuilder) -> pd.DataFrame:
    """The validated lab table with harmonised columns, as `lab_units.harmonise` returns it (values
    as given in `*_as_given`, `exclusion`, `harmonised`), and its findings added to the report.

    Built on a shallow copy: the columns as given are the validated arrays themselves, so the
    table grows only by the converted columns, without a copy of a table of tens of millions of rows.
    Rows are numbered as in the file (the validated table's index); a table read from several
    files names them all in its findings.
    """
    if "harmonised" in labs.columns or labs.empty:
        return labs
    rows = labs.index.to_numpy()
    converted = harmonised_columns(labs)
    out = labs.copy(deep=False)
    for column in GIVEN_COLUMNS:
        out[f"{column}_as_given"] = labs[column] if column in labs else pd.Series(None, index=labs.index, dtype="object")
    for column in CONVERTED_COLUMNS:
        out[column] = converted[column]
    out["exclusion"] = exclusion_reasons(converted)
    out["harmonised"] = converted["harmonised"]
    findings = harmonisation_findings(_with_rows(labs, rows), converted, file=", ".join(files) or "labs.csv")
    add_findings(builder, findings)
    return out


def _with_rows(labs: pd.DataFrame, rows: np.ndarray) -> pd.DataFrame:
    """The table (shallow) with the file row of each result, which the findings name."""
    numbered = labs.copy(deep=False)
    numbered["source_row"] = rows
    return numbered


def add_findings(builder: ReportBuilder, findings: pd.DataFrame) -> None:
    """Findings as `lab_units` writes them (FINDING_COLUMNS), added a group at a time."""
    if findings.empty:
        return
    keys = ["severity", "file", "column", "action"]
    for (severity, file, column, action), group in findings.groupby(keys, sort=False, dropna=False):
        values = [None if pd.isna(v) else str(v) for v in group["value"].tolist()]
        builder.add_many(severity, file, pa.array(group["row"].to_numpy(dtype=np.int64)), pa.array(values, pa.string()),
                         pa.array(group["message"].astype(str).tolist(), pa.string()), column=column, action=action)


def release_memory() -> None:
    """Returns freed memory of pyarrow's pool and of the C heap to the system (Linux glibc)."""
    try:
        pa.default_memory_pool().release_unused()
    except (AttributeError, pa.ArrowNotImplementedError):
        pass
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        log.debug("malloc_trim is not available here")
