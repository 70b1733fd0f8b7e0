"""Lab results harmonised once, as the validated table is built, so that no page, claim or summary repeats it.

Each test gets one name and one unit, and default limits (`lab_units`); what cannot be converted
becomes findings of the validation report, naming file, row and column. The labs area then skips
the conversion.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from analysis.ingest.lab_units import (
    EXCLUDED_ACTION,
    FINDING_COLUMNS,
    GIVEN_COLUMNS,
    UNRECOGNISED_ACTION,
    exclusion_reasons,
    harmonisation_findings,
    harmonised_columns,
)
from analysis.ingest.progress import report_stage
from analysis.ingest.validation import ReportBuilder

CONVERTED_COLUMNS = ("test", "unit", "value", "lower_limit", "upper_limit", "lower_limit_source", "upper_limit_source")


def harmonise_labs(labs: pd.DataFrame, files: list[str], builder: ReportBuilder) -> pd.DataFrame:
    """The validated lab table with harmonised columns, as `lab_units.harmonise` returns it (values
    as given in `*_as_given`, `exclusion`, `harmonised`; the texts as given and the reasons as
    categoricals), and its findings added to the report.

    Built on a shallow copy: the columns as given are the validated arrays themselves, so the
    table grows only by the converted columns, without a copy of a table of tens of millions of rows.
    Rows are numbered as in the file (the validated table's index); a table read from several
    files names them all in its findings.
    """
    if "harmonised" in labs.columns or labs.empty:
        return labs
    report_stage("Converting lab results to one unit per test")
    rows = labs.index.to_numpy()
    converted = harmonised_columns(labs)
    out = labs.copy(deep=False)
    for column in GIVEN_COLUMNS:
        out[f"{column}_as_given"] = (
            labs[column] if column in labs else pd.Series(None, index=labs.index, dtype="object")
        )
    for column in ("test_as_given", "unit_as_given"):  # a few distinct texts: one byte a row instead of eight
        out[column] = compact_text(out[column])
    for column in CONVERTED_COLUMNS:
        out[column] = converted[column]
    out["exclusion"] = compact_text(pd.Series(exclusion_reasons(converted), index=labs.index))
    out["harmonised"] = converted["harmonised"]
    findings = harmonisation_findings(_with_rows(labs, rows), converted, file=", ".join(files) or "labs.csv")
    add_findings(builder, findings)
    return out


def lab_findings(issues: pd.DataFrame) -> pd.DataFrame:
    """The findings `harmonise_labs` added to a validation report (units that cannot be converted,
    test names not recognised), as `lab_units` words them, for the Labs page."""
    from_labs = issues["action"].astype(str).isin([EXCLUDED_ACTION, UNRECOGNISED_ACTION]).to_numpy()
    table = issues.loc[from_labs, list(FINDING_COLUMNS)].reset_index(drop=True)
    return table.astype({name: object for name in FINDING_COLUMNS if name != "row"})


def compact_text(values: pd.Series) -> pd.Series:
    """Text with few distinct values as a categorical (missing stays missing), its categories the
    values present in the order they first appear; a categorical (text the reader dictionary-
    encoded) gets the same categories by factorizing its integer codes, not its text."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        codes, seen = pd.factorize(values.cat.codes.to_numpy(), use_na_sentinel=True)
        present = seen >= 0
        renumbered = np.full(len(seen), -1, dtype=np.int64)
        renumbered[present] = np.arange(int(present.sum()))
        categories = pd.Index(values.cat.categories[seen[present]], dtype=object)
        return pd.Series(pd.Categorical.from_codes(renumbered[codes], categories), index=values.index, name=values.name)
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    return pd.Series(
        pd.Categorical.from_codes(codes, pd.Index(uniques, dtype=object)), index=values.index, name=values.name
    )


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
        builder.add_many(
            severity,
            file,
            pa.array(group["row"].to_numpy(dtype=np.int64)),
            pa.array(values, pa.string()),
            pa.array(group["message"].astype(str).tolist(), pa.string()),
            column=column,
            action=action,
        )
