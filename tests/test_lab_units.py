"""Lab harmonisation: names and LOINC codes, unit conversions both ways, default limits, and
unknown units reported by file, row and column instead of being converted wrongly."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.ingest.lab_units import (
    BY_CODE,
    FINDING_COLUMNS,
    canonical_test,
    conversion,
    convert,
    harmonise,
    normalise_unit,
    reference_table,
)


@pytest.mark.parametrize(
    "name, code",
    [
        ("ALT", "ALT"),
        ("alt", "ALT"),
        ("SGPT", "ALT"),
        ("Alanine Aminotransferase (U/L)", "ALT"),
        ("1742-6", "ALT"),
        ("ASAT", "AST"),
        ("1920-8", "AST"),
        ("Triglycerides", "TG"),
        ("TRIG", "TG"),
        ("2571-8", "TG"),
        ("Cholesterol (mmol/L)", "TC"),
        ("CHOL", "TC"),
        ("2093-3", "TC"),
        ("LDL-C", "LDL"),
        ("13457-7", "LDL"),
        ("HDL cholesterol", "HDL"),
        ("CPK", "CK"),
        ("GLUC", "GLU"),
        ("Bilirubin", "BILI"),
        ("1975-2", "BILI"),
        ("beta hCG", "HCG"),
        ("2106-3", "HCG"),
        (" ggt ", "GGT"),
    ],
)
def test_names_synonyms_and_loinc_codes_are_recognised(name, code):
    assert canonical_test(name) == code


@pytest.mark.parametrize("name", ["Sodium", "", None, "ALT2", "9999-9"])
def test_unknown_names_are_not_guessed(name):
    assert canonical_test(name) is None


@pytest.mark.parametrize(
    "written, key",
    [
        ("mg/dL", "mg/dl"),
        (" MG / DL ", "mg/dl"),
        ("µmol/L", "umol/l"),
        ("μmol/l", "umol/l"),
        ("micromol/litre", "umol/l"),
        ("µkat/L", "ukat/l"),
        ("IU/L", "iu/l"),
        (None, ""),
        (np.nan, ""),
    ],
)
def test_unit_spellings_are_normalised(written, key):
    assert normalise_unit(written) == key


@pytest.mark.parametrize(
    "code, si_unit, si_value, conventional",
    [
        ("TG", "mmol/L", 1.0, 88.57),  # LITERATURE.md: TG mg/dL = mmol/L x 88.57
        ("TC", "mmol/L", 1.0, 38.67),  # cholesterol x 38.67
        ("LDL", "mmol/L", 2.0, 77.34),
        ("HDL", "mmol/L", 1.5, 58.005),
        ("GLU", "mmol/L", 5.0, 90.1),  # glucose x 18.02
        ("BILI", "umol/L", 17.1, 1.0),  # bilirubin mg/dL = umol/L / 17.1
        ("ALT", "ukat/L", 0.5, 30.0),  # ALT/AST U/L = ukat/L x 60
        ("AST", "nkat/L", 500.0, 30.0),
        ("TG", "g/L", 1.5, 150.0),  # metric prefix only
    ],
)
def test_conversion_both_ways(code, si_unit, si_value, conventional):
    canonical = BY_CODE[code].unit
    assert convert([si_value], code, si_unit)[0] == pytest.approx(conventional)
    assert convert([conventional], code, canonical, si_unit)[0] == pytest.approx(si_value)


def test_a_unit_foreign_to_the_test_has_no_conversion():
    assert conversion("ALT", "mmol/L") is None
    assert conversion("TC", "U/L") is None
    with pytest.raises(ValueError):
        convert([1.0], "TC", "U/L")


def _labs(**columns) -> pd.DataFrame:
    return pd.DataFrame(columns)


def test_values_and_limits_convert_with_the_same_factor_and_defaults_fill_the_gaps():
    labs = _labs(
        test=["CHOL", "TC", "ALT", "ALT"],
        value=[5.0, 210.0, 0.5, 30.0],
        unit=["mmol/L", "mg/dL", "µkat/L", "U/L"],
        lower_limit=[np.nan, np.nan, 0.1, np.nan],
        upper_limit=[5.2, np.nan, 0.6, np.nan],
    )
    out, findings = harmonise(labs)
    assert findings.empty
    assert out["test"].astype(str).tolist() == ["TC", "TC", "ALT", "ALT"]
    assert out["unit"].astype(str).tolist() == ["mg/dL", "mg/dL", "U/L", "U/L"]
    assert out["value"].tolist() == pytest.approx([5.0 * 38.67, 210.0, 30.0, 30.0])
    assert out["upper_limit"].tolist() == pytest.approx([5.2 * 38.67, 200.0, 36.0, 40.0])
    assert out["upper_limit_source"].astype(str).tolist() == ["data", "default", "data", "default"]
    assert out["lower_limit"].iloc[2] == pytest.approx(6.0)
    assert out["harmonised"].all()
    assert out["value_as_given"].tolist() == [5.0, 210.0, 0.5, 30.0]


def test_unknown_unit_is_excluded_and_named_by_file_row_and_column():
    labs = _labs(test=["ALT", "TG", "TG"], value=[30.0, 1.2, 2.0], unit=["U/L", "mmol/L", "furlongs"])
    out, findings = harmonise(labs, file="site_b_labs.csv")
    assert list(findings.columns) == list(FINDING_COLUMNS)
    assert len(findings) == 1
    finding = findings.iloc[0]
    assert (finding["severity"], finding["file"], finding["row"], finding["column"], finding["value"]) == (
        "error",
        "site_b_labs.csv",
        4,
        "unit",
        "furlongs",
    )  # header is row 1, so the third data row is row 4
    assert "TG" in finding["message"] and "mmol/l" in finding["message"]
    assert finding["action"] == "row excluded from the lab analysis"
    assert out["harmonised"].tolist() == [True, True, False]
    assert out["exclusion"].iloc[2] == "unit not recognised for this test"
    assert out["value"].iloc[2] == 2.0  # not converted: left as given, and excluded


def test_missing_unit_is_an_error_and_source_rows_are_honoured():
    labs = _labs(test=["TC", "TC"], value=[5.1, 190.0], unit=[None, "mg/dL"], source_row=[17, 18])
    out, findings = harmonise(labs)
    assert findings[["row", "column", "severity"]].values.tolist() == [[17, "unit", "error"]]
    assert out["exclusion"].tolist()[0] == "unit missing"
    assert out["harmonised"].tolist() == [False, True]


def test_unrecognised_tests_are_kept_as_given_with_one_warning_per_name():
    labs = _labs(
        test=["Sodium", "Sodium", "Sodium", "Ferritin"],
        value=[140.0, 3200.0, 139.0, 50.0],
        unit=["mmol/L", "mg/L", "mmol/L", "ng/mL"],
    )
    out, findings = harmonise(labs)
    assert out["harmonised"].all()
    assert out["test"].astype(str).tolist() == ["Sodium [mmol/L]", "Sodium [mg/L]", "Sodium [mmol/L]", "Ferritin"]
    assert out["value"].tolist() == [140.0, 3200.0, 139.0, 50.0]
    assert findings[["severity", "row", "column", "value"]].values.tolist() == [
        ["warning", 2, "test", "Sodium"],
        ["warning", 5, "test", "Ferritin"],
    ]
    assert "3 rows" in findings["message"].iloc[0]


def test_missing_test_or_value_is_excluded():
    labs = _labs(test=[None, "ALT"], value=[3.0, None], unit=["U/L", "U/L"])
    out, _ = harmonise(labs)
    assert out["exclusion"].tolist() == ["test name missing", "value missing or not a number"]
    assert not out["harmonised"].any()


def test_harmonising_twice_changes_nothing():
    labs = _labs(
        test=["CHOL", "ALT", "TG"],
        value=[5.0, 0.5, 99.0],
        unit=["mmol/L", "ukat/L", "parsecs"],
        upper_limit=[5.2, 0.6, 150.0],
    )
    once, first = harmonise(labs)
    twice, second = harmonise(once)
    for column in ("value", "upper_limit", "lower_limit"):
        assert np.array_equal(once[column].to_numpy(), twice[column].to_numpy(), equal_nan=True)
    assert twice["test"].astype(str).tolist() == once["test"].astype(str).tolist()
    assert first.equals(second)


def test_qualitative_pregnancy_tests_get_a_half_threshold():
    out, _ = harmonise(_labs(test=["urine hCG", "HCG"], value=[1.0, 0.0], unit=["positive/negative", "pos/neg"]))
    assert out["unit"].astype(str).tolist() == ["1 = positive", "1 = positive"]
    assert out["upper_limit"].tolist() == [0.5, 0.5]


def test_reference_table_lists_every_recognised_test():
    table = reference_table()
    assert set(table["test"]) >= {"ALT", "AST", "TG", "TC", "LDL", "HDL", "CK", "GLU", "BILI", "HCG"}
    assert table.set_index("test").loc["TG", "default upper limit"] == 150
