"""Lab harmonisation: one name and one unit per test, reference limits where the data has none.

Clinics report the same test under many names (ALT, SGPT, ALAT, LOINC 1742-6) and in SI or
conventional units (cholesterol in mmol/L or mg/dL). Every recognised test is converted to one
unit (mg/dL for lipids, glucose and bilirubin, U/L for enzymes) with the factors of LITERATURE.md.
A unit we do not know for a test is never guessed: the row is excluded from analysis and named
in a finding (file, row, column), so the validation report can show it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from analysis.stats.suppression import how_many

FINDING_COLUMNS = ("severity", "file", "row", "column", "value", "message", "action")
EXCLUDED_ACTION = "row excluded from the lab analysis"
UNRECOGNISED_ACTION = "kept; not converted and not graded"

# Factors from LITERATURE.md ("unit conversions"): conventional = SI x factor.
TG_MG_PER_MMOL = 88.57
CHOLESTEROL_MG_PER_MMOL = 38.67
GLUCOSE_MG_PER_MMOL = 18.02
BILIRUBIN_UMOL_PER_MG = 17.1
ENZYME_U_PER_UKAT = 60.0

MASS_UNITS = {"mg/dl": 1.0, "mg%": 1.0, "g/l": 100.0, "mg/l": 0.1}  # exact metric prefixes, to mg/dL
ENZYME_UNITS = {
    "u/l": 1.0,
    "iu/l": 1.0,
    "units/l": 1.0,
    "ukat/l": ENZYME_U_PER_UKAT,
    "nkat/l": ENZYME_U_PER_UKAT / 1000,
}
HCG_UNITS = {"miu/ml": 1.0, "iu/l": 1.0, "u/l": 1.0}
QUALITATIVE_UNITS = {"qualitative": 1.0, "pos/neg": 1.0, "positive/negative": 1.0, "neg/pos": 1.0, "1=positive": 1.0}
QUALITATIVE_UNIT = "1 = positive"


@dataclass(frozen=True)
class LabTest:
    """A recognised test: its canonical code and unit, names it goes by, and default limits."""

    code: str
    name: str
    unit: str
    factors: dict[str, float]  # normalised unit as given -> factor to the canonical unit
    synonyms: tuple[str, ...] = ()
    loinc: tuple[str, ...] = ()
    lower: float | None = None  # default reference limits in the canonical unit
    upper: float | None = None
    group: str = "other"  # liver, lipid, muscle, glucose, pregnancy, other
    extra_units: dict[str, tuple[str, float, float | None, float | None]] = field(default_factory=dict)


# Default limits where the data gives none: common adult reference intervals; lipid limits are
# the NCEP ATP III cut-offs that Zane 2006 also used (TG 150, TC 200 mg/dL).
TESTS: tuple[LabTest, ...] = (
    LabTest(
        "ALT",
        "Alanine aminotransferase (ALT)",
        "U/L",
        ENZYME_UNITS,
        ("sgpt", "gpt", "alat", "alanine aminotransferase", "alanine transaminase"),
        ("1742-6", "1743-4", "1744-2", "76625-3"),
        0,
        40,
        "liver",
    ),
    LabTest(
        "AST",
        "Aspartate aminotransferase (AST)",
        "U/L",
        ENZYME_UNITS,
        ("sgot", "got", "asat", "aspartate aminotransferase", "aspartate transaminase"),
        ("1920-8", "30239-8"),
        0,
        40,
        "liver",
    ),
    LabTest(
        "ALP",
        "Alkaline phosphatase",
        "U/L",
        ENZYME_UNITS,
        ("alkaline phosphatase", "alkp"),
        ("6768-6",),
        40,
        130,
        "liver",
    ),
    LabTest(
        "GGT",
        "Gamma-glutamyl transferase",
        "U/L",
        ENZYME_UNITS,
        ("gamma glutamyl transferase", "gamma gt", "ggtp"),
        ("2324-2",),
        0,
        60,
        "liver",
    ),
    LabTest(
        "BILI",
        "Total bilirubin",
        "mg/dL",
        {**MASS_UNITS, "umol/l": 1 / BILIRUBIN_UMOL_PER_MG},
        ("bilirubin", "total bilirubin", "tbil", "bilirubin total"),
        ("1975-2",),
        0.1,
        1.2,
        "liver",
    ),
    LabTest(
        "TG",
        "Triglycerides",
        "mg/dL",
        {**MASS_UNITS, "mmol/l": TG_MG_PER_MMOL},
        ("triglycerides", "triglyceride", "trig", "trigs"),
        ("2571-8",),
        None,
        150,
        "lipid",
    ),
    LabTest(
        "TC",
        "Total cholesterol",
        "mg/dL",
        {**MASS_UNITS, "mmol/l": CHOLESTEROL_MG_PER_MMOL},
        ("cholesterol", "total cholesterol", "chol", "cholesterol total"),
        ("2093-3",),
        None,
        200,
        "lipid",
    ),
    LabTest(
        "LDL",
        "LDL cholesterol",
        "mg/dL",
        {**MASS_UNITS, "mmol/l": CHOLESTEROL_MG_PER_MMOL},
        ("ldl cholesterol", "ldl-c", "ldlc", "cholesterol in ldl"),
        ("2089-1", "13457-7", "18262-6"),
        None,
        130,
        "lipid",
    ),
    LabTest(
        "HDL",
        "HDL cholesterol",
        "mg/dL",
        {**MASS_UNITS, "mmol/l": CHOLESTEROL_MG_PER_MMOL},
        ("hdl cholesterol", "hdl-c", "hdlc", "cholesterol in hdl"),
        ("2085-9",),
        40,
        None,
        "lipid",
    ),
    LabTest(
        "CK",
        "Creatine kinase",
        "U/L",
        ENZYME_UNITS,
        ("creatine kinase", "cpk", "creatine phosphokinase", "ck total"),
        ("2157-6",),
        0,
        200,
        "muscle",
    ),
    LabTest(
        "GLU",
        "Glucose",
        "mg/dL",
        {**MASS_UNITS, "mmol/l": GLUCOSE_MG_PER_MMOL},
        ("glucose", "gluc", "fasting glucose", "blood glucose"),
        ("2345-7", "2339-0", "1558-6"),
        70,
        99,
        "glucose",
    ),
    LabTest(
        "HCG",
        "Pregnancy test (hCG)",
        "mIU/mL",
        {**HCG_UNITS, **QUALITATIVE_UNITS},
        ("hcg", "beta hcg", "b-hcg", "bhcg", "pregnancy test", "choriogonadotropin", "urine hcg", "serum hcg"),
        ("2106-3", "2118-8", "2119-6", "19080-1"),
        None,
        5,
        "pregnancy",
        {u: (QUALITATIVE_UNIT, 1.0, None, 0.5) for u in QUALITATIVE_UNITS},
    ),
)
BY_CODE: dict[str, LabTest] = {t.code: t for t in TESTS}
ACCEPTED_UNITS = {t.code: ", ".join(sorted(t.factors)) for t in TESTS}
LIVER_TESTS = ("ALT", "AST")
LIPID_TESTS = ("TG", "TC")


def _name_key(name: str) -> str:
    """Case, punctuation, spacing and a trailing '(unit)' do not change what a test is."""
    text = re.sub(r"\([^)]*\)\s*$", "", str(name)).strip().lower()
    text = re.sub(r"[_\-.,:;]+", " ", text)
    return re.sub(r"\s+", " ", text).strip()


def _name_index() -> dict[str, str]:
    index = {}
    for test in TESTS:
        for alias in (test.code, test.name, *test.synonyms):
            index[_name_key(alias)] = test.code
        for code in test.loinc:
            index[code] = test.code
    return index


NAME_INDEX = _name_index()


def canonical_test(name) -> str | None:
    """The canonical code of a test name, synonym or LOINC code; None when not recognised."""
    if name is None or (isinstance(name, float) and np.isnan(name)):
        return None
    text = str(name).strip()
    return NAME_INDEX.get(text) or NAME_INDEX.get(_name_key(text))


def normalise_unit(unit) -> str:
    """'µmol/L', 'umol / l' and 'micromol/litre' are the same unit."""
    if unit is None or (isinstance(unit, float) and np.isnan(unit)) or unit is pd.NA:
        return ""
    text = str(unit).strip().lower().replace("µ", "u").replace("μ", "u").replace("micro", "u")
    text = re.sub(r"litres?|liters?", "l", text).replace(" per ", "/")
    text = re.sub(r"\s+", "", text)
    return text


def conversion(code: str, unit) -> tuple[str, float, float | None, float | None] | None:
    """(canonical unit, factor, default lower, default upper) for a unit as given, or None if unknown."""
    test = BY_CODE[code]
    key = normalise_unit(unit)
    if key in test.extra_units:
        return test.extra_units[key]
    if key in test.factors:
        return test.unit, test.factors[key], test.lower, test.upper
    return None


def convert(values, code: str, from_unit: str, to_unit: str | None = None) -> np.ndarray:
    """Values of one test from one unit to another (default: the canonical unit)."""
    source = conversion(code, from_unit)
    target = conversion(code, to_unit or BY_CODE[code].unit)
    if source is None or target is None:
        raise ValueError(f"no conversion for {code} between {from_unit!r} and {to_unit!r}")
    return np.asarray(values, dtype="float") * source[1] / target[1]


def empty_findings() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="object") for c in FINDING_COLUMNS})


def harmonise(labs: pd.DataFrame, file: str = "labs.csv") -> tuple[pd.DataFrame, pd.DataFrame]:
    """Canonical test codes, values and limits in one unit per test, and findings for what was not.

    Returns the labs (every row kept, with `harmonised` False and an `exclusion` reason for rows the
    analysis must leave out) and a findings table (FINDING_COLUMNS) for the validation report.
    The values as given stay in `*_as_given` columns; `test` and `unit` become categoricals.
    Rows are numbered as in the file (header = row 1) unless a `source_row` column says otherwise.
    Calling it again on its own output gives the same result.
    """
    converted = harmonised_columns(labs)
    columns = {c: labs[c] for c in labs.columns}
    columns.update({f"{c}_as_given": _given(labs, c) for c in GIVEN_COLUMNS})
    columns.update({c: v for c, v in converted.items() if not c.startswith("_") and c != "harmonised"})
    columns["exclusion"] = exclusion_reasons(converted)
    columns["harmonised"] = converted["harmonised"]
    out = pd.DataFrame(columns, index=labs.index)
    return out, harmonisation_findings(labs, converted, file)


GIVEN_COLUMNS = ("test", "unit", "value", "lower_limit", "upper_limit")
VALUE_MISSING = "value missing or not a number"


def harmonised_columns(labs: pd.DataFrame) -> dict:
    """The converted columns only (test, unit, value, limits and their source, harmonised), as
    arrays aligned with the rows, plus `_pairs`: each row's distinct (test, unit) pair and the plan
    per pair. Work is done once per pair, so millions of rows cost a few vectorised passes."""
    given = {c: _given(labs, c) for c in GIVEN_COLUMNS}
    pair_ids, plan = _plan(given["test"], given["unit"])
    factor = plan["factor"].to_numpy(dtype="float")[pair_ids]
    value = _floats(given["value"]) * factor
    columns = {
        "test": _categorical(pair_ids, plan["label"]),
        "unit": _categorical(pair_ids, plan["unit"]),
        "value": value,
    }
    for limit, default in (("lower_limit", "default_lower"), ("upper_limit", "default_upper")):
        from_data = _floats(given[limit]) * factor
        defaults = plan[default].to_numpy(dtype="float")[pair_ids]
        columns[limit] = np.where(np.isnan(from_data), defaults, from_data)
        source = np.select([~np.isnan(from_data), ~np.isnan(defaults)], [2, 1], 0)
        columns[f"{limit}_source"] = pd.Categorical.from_codes(source, ["none", "default", "data"])
    excluded_pair = plan["exclusion"].notna().to_numpy()
    columns["harmonised"] = ~excluded_pair[pair_ids] & ~np.isnan(value)
    columns["_pairs"] = (pair_ids, plan)
    return columns


def exclusion_reasons(converted: dict) -> np.ndarray:
    """Why each row is left out of the analysis (None for rows that are kept)."""
    pair_ids, plan = converted["_pairs"]
    reasons = plan["exclusion"].to_numpy(dtype=object)[pair_ids]
    reasons[~converted["harmonised"] & pd.isna(reasons)] = VALUE_MISSING
    return reasons


def _rows_with(converted: dict, status: str) -> np.ndarray:
    pair_ids, plan = converted["_pairs"]
    return (plan["status"].to_numpy() == status)[pair_ids]


def harmonisation_findings(labs: pd.DataFrame, converted: dict, file: str = "labs.csv") -> pd.DataFrame:
    """Errors for rows left out (unknown or missing unit), warnings for test names not recognised."""
    rows = labs["source_row"].to_numpy() if "source_row" in labs else np.arange(len(labs)) + 2
    pair_ids, plan = converted["_pairs"]
    unit, name = _given(labs, "unit"), _given(labs, "test")

    def test(mask: np.ndarray) -> pd.Series:
        return pd.Series(plan["label"].to_numpy(dtype=object)[pair_ids[mask]]).astype(str)

    return pd.concat(
        [
            _row_findings(
                rows,
                unit,
                _rows_with(converted, UNKNOWN_UNIT),
                file,
                lambda m: (
                    "'"
                    + unit[m].astype(str).to_numpy()
                    + "' is not a unit we can convert for "
                    + test(m).to_numpy()
                    + " (accepted: "
                    + test(m).map(ACCEPTED_UNITS).to_numpy()
                    + ")"
                ),
            ),
            _row_findings(
                rows,
                unit,
                _rows_with(converted, MISSING_UNIT),
                file,
                lambda m: "no unit given for " + test(m).to_numpy() + ": the value cannot be interpreted safely",
            ),
            _unrecognised_findings(rows, name, _rows_with(converted, UNRECOGNISED), file),
        ],
        ignore_index=True,
    )


def pair_summary(converted: dict) -> pd.DataFrame:
    """Rows per test and unit as given: the unit they were converted to and how many were left out."""
    pair_ids, plan = converted["_pairs"]
    rows = np.bincount(pair_ids, minlength=len(plan))
    left_out = np.bincount(pair_ids, weights=(~np.asarray(converted["harmonised"])).astype(float), minlength=len(plan))
    table = pd.DataFrame(
        {
            "test": plan["label"].fillna("(none)").astype(str),
            "unit_as_given": plan["unit_given"].astype(object).fillna("(none)").astype(str),
            "unit": plan["unit"].astype(object).fillna("").astype(str),
            "rows": rows,
            "excluded": np.rint(left_out).astype("int64"),
        }
    )
    table = table.groupby(["test", "unit_as_given"], as_index=False, sort=False).agg(
        unit=("unit", "first"), rows=("rows", "sum"), excluded=("excluded", "sum")
    )
    order = {code: i for i, code in enumerate(BY_CODE)}
    return table.sort_values(
        ["test", "unit_as_given"], key=lambda c: c.map(order).fillna(len(order)) if c.name == "test" else c
    ).reset_index(drop=True)


CONVERTED, UNKNOWN_UNIT, MISSING_UNIT, UNRECOGNISED, MISSING_TEST = (
    "converted",
    "unknown unit",
    "missing unit",
    "unrecognised test",
    "missing test",
)
EXCLUSIONS = {
    UNKNOWN_UNIT: "unit not recognised for this test",
    MISSING_UNIT: "unit missing",
    MISSING_TEST: "test name missing",
}


def _given(labs: pd.DataFrame, column: str) -> pd.Series:
    if f"{column}_as_given" in labs:
        return labs[f"{column}_as_given"]
    if column in labs:
        return labs[column]
    return pd.Series(None, index=labs.index, dtype="object")


def _floats(values: pd.Series) -> np.ndarray:
    if pd.api.types.is_numeric_dtype(values.dtype):
        return values.to_numpy(dtype="float", na_value=np.nan)
    return pd.to_numeric(values, errors="coerce").to_numpy(dtype="float", na_value=np.nan)


def _categorical(codes: np.ndarray, labels: pd.Series) -> pd.Categorical:
    """Per-pair labels spread to rows as a categorical (labels may repeat across pairs)."""
    label_codes, categories = pd.factorize(labels, use_na_sentinel=True)
    return pd.Categorical.from_codes(label_codes[codes], categories)


def _plan(names: pd.Series, units: pd.Series) -> tuple[np.ndarray, pd.DataFrame]:
    """Row -> distinct (test, unit) pair, and per pair: label, unit, factor, default limits, status."""
    name_ids, name_values = pd.factorize(names, use_na_sentinel=True)
    unit_ids, unit_values = pd.factorize(units, use_na_sentinel=True)
    width = len(unit_values) + 1
    pair_ids, pair_values = pd.factorize((name_ids.astype("int64") + 1) * width + unit_ids + 1)
    name_of = [None if i // width == 0 else name_values[i // width - 1] for i in pair_values]
    unit_of = [None if i % width == 0 else unit_values[i % width - 1] for i in pair_values]
    plan = pd.DataFrame(
        [_pair_plan(n, u) for n, u in zip(name_of, unit_of)],
        columns=["label", "unit", "factor", "default_lower", "default_upper", "status"],
    )
    plan["name"], plan["unit_given"] = name_of, unit_of
    _label_mixed_unit_names(plan)
    plan["exclusion"] = plan["status"].map(EXCLUSIONS)
    return pair_ids, plan


def _pair_plan(name, unit) -> tuple:
    code = canonical_test(name)
    if name is None or str(name).strip() == "":
        return None, unit, 1.0, np.nan, np.nan, MISSING_TEST
    if code is None:
        label = None if name is None else str(name).strip()
        return label, unit, 1.0, np.nan, np.nan, UNRECOGNISED
    if normalise_unit(unit) == "":
        return code, unit, 1.0, np.nan, np.nan, MISSING_UNIT
    found = conversion(code, unit)
    if found is None:
        return code, unit, 1.0, np.nan, np.nan, UNKNOWN_UNIT
    canonical_unit, factor, lower, upper = found
    return code, canonical_unit, factor, _num(lower), _num(upper), CONVERTED


def _num(value) -> float:
    return np.nan if value is None else float(value)


def _label_mixed_unit_names(plan: pd.DataFrame) -> None:
    """An unrecognised name given in several units becomes 'name [unit]', one series per unit."""
    unknown = plan["status"] == UNRECOGNISED
    units_per_name = plan[unknown].groupby("label")["unit_given"].nunique(dropna=False)
    mixed = unknown & plan["label"].isin(units_per_name[units_per_name > 1].index)
    plan.loc[mixed, "label"] = (
        plan.loc[mixed, "label"] + " [" + plan.loc[mixed, "unit_given"].fillna("no unit").astype(str) + "]"
    )


def _row_findings(rows: np.ndarray, unit: pd.Series, mask: np.ndarray, file: str, message) -> pd.DataFrame:
    """One error per excluded row, naming the unit column of that row; `message(mask) -> texts`."""
    if not mask.any():
        return empty_findings()
    return pd.DataFrame(
        {
            "severity": "error",
            "file": file,
            "row": rows[mask].astype("int64"),
            "column": "unit",
            "value": unit[mask].astype("object").to_numpy(),
            "message": message(mask),
            "action": EXCLUDED_ACTION,
        }
    )


def _unrecognised_findings(rows: np.ndarray, names: pd.Series, mask: np.ndarray, file: str) -> pd.DataFrame:
    """One warning per test name we do not know (first row where it appears), not one per row."""
    if not mask.any():
        return empty_findings()
    names = pd.Series(names[mask].to_numpy(), index=np.flatnonzero(mask)).dropna()
    if names.empty:
        return empty_findings()
    first = names.drop_duplicates()
    counts = names.value_counts()
    return pd.DataFrame(
        {
            "severity": "warning",
            "file": file,
            "row": rows[first.index].astype("int64"),
            "column": "test",
            "value": first.to_numpy(),
            "message": [
                f"'{n}' is not a recognised test name or LOINC code ({how_many(counts[n], 'row')}): kept as given, in its own unit"
                for n in first
            ],
            "action": UNRECOGNISED_ACTION,
        }
    )


def conversion_summary(harmonised: pd.DataFrame) -> pd.DataFrame:
    """Rows per test and unit as given, with the unit they were converted to (for the data notes)."""
    if harmonised.empty:
        return pd.DataFrame(columns=["test", "unit_as_given", "unit", "rows", "excluded"])
    table = harmonised.assign(
        unit_as_given=harmonised["unit_as_given"].astype("object").fillna("(none)"), excluded=~harmonised["harmonised"]
    )
    grouped = table.groupby(["test", "unit_as_given"], dropna=False, sort=True, observed=True).agg(
        unit=("unit", "first"), rows=("harmonised", "size"), excluded=("excluded", "sum")
    )
    return grouped.reset_index()


def reference_table() -> pd.DataFrame:
    """The recognised tests: code, names, LOINC codes, canonical unit, accepted units and default limits."""
    return pd.DataFrame(
        [
            {
                "test": t.code,
                "name": t.name,
                "unit": t.unit,
                "accepted units": ", ".join(sorted(t.factors)),
                "LOINC": ", ".join(t.loinc),
                "default lower limit": t.lower,
                "default upper limit": t.upper,
                "also called": ", ".join(t.synonyms),
            }
            for t in TESTS
        ]
    )
