"""Direct identifiers: found by column name and by values, dropped or refused with a reason."""

import pyarrow as pa
import pytest
from csv_bundles import assert_counts_add_up, only_finding

from analysis.cohort.loading import load_tables
from analysis.ingest.identifiers import (
    ADDRESS,
    BIRTH_DATE,
    EMAIL,
    HEALTH_NUMBER,
    NAME,
    PHONE,
    find_identifiers,
    kind_from_name,
    kind_from_values,
)
from analysis.ingest.upload import COLUMN_DROPPED
from analysis.ingest.validation import ERROR, FILE_IGNORED, WARNING


def column(*values):
    return pa.array(list(values), pa.string())


@pytest.mark.parametrize(
    "name, kind",
    [
        ("Patient name", NAME),
        ("First Name", NAME),
        ("surname", NAME),
        ("Nachname", NAME),
        ("full_name", NAME),
        ("E-mail", EMAIL),
        ("email address", EMAIL),
        ("Phone number", PHONE),
        ("Tel", PHONE),
        ("mobile phone", PHONE),
        ("Home address", ADDRESS),
        ("Street", ADDRESS),
        ("DOB", BIRTH_DATE),
        ("Date of birth", BIRTH_DATE),
        ("BRTHDTC", BIRTH_DATE),
        ("NHS number", HEALTH_NUMBER),
        ("SSN", HEALTH_NUMBER),
        ("Versichertennummer", HEALTH_NUMBER),
    ],
)
def test_identifier_column_names(name, kind):
    assert kind_from_name(name) == kind


@pytest.mark.parametrize(
    "name",
    [
        "patient_id",
        "test name",
        "site name",
        "redcap_event_name",
        "Image Id",
        "IP address",
        "age",
        "cell count",
        "Timestamp (From Photo)(MMDD-YYYY-HHMMSS)",
        "term",
        "USUBJID",
        "drug name",
    ],
)
def test_clinical_column_names_are_not_identifiers(name):
    assert kind_from_name(name) is None


@pytest.mark.parametrize(
    "values, kind",
    [
        (("ann@example.org", "bo.lee@clinic.co.uk", "c@d.de"), EMAIL),
        (("+44 20 7946 0958", "+1 (555) 123-4567", "0049 30 1234567"), PHONE),
        (("(555) 123-4567", "555-987-6543", "020 7946 0958"), PHONE),
        (("12 High Street", "5 Rue de la Paix", "Hauptstraße 5", "221B Baker Street"), ADDRESS),
        (("123-45-6789", "987-65-4321", "111-22-3333"), HEALTH_NUMBER),
        (("943 476 5919", "9434765870", "401 023 2137", "9876543210", "4010232137"), HEALTH_NUMBER),
        (("Jane Smith", "Omar Haddad", "Mary-Ann O'Neil", "Li Wei", "Smith, John"), NAME),
    ],
)
def test_identifier_values(values, kind):
    assert kind_from_values("col", column(*values))[0] == kind


@pytest.mark.parametrize(
    "name, values",
    [
        ("USUBJID", ("01-701-1015", "01-701-1023", "01-702-1082")),
        ("ratio", ("0.8333333333", "1.2500000001", "0.9999999999")),
        ("timestamp", ("1026-2022-123018", "1023-2022-001449", "1028-2022-002823")),
        ("term", ("Dry Skin", "Dry Lips", "Dry Skin", "Dry Lips", "Dry Skin")),
        ("site", ("North Clinic", "South Clinic", "North Clinic", "West Clinic", "East Clinic")),
        ("code", ("1234567890", "2345678901", "3456789012", "4567890123", "5678901234")),
        ("day", ("0", "30", "61", "91")),
    ],
)
def test_codes_numbers_and_clinical_words_are_not_identifiers(name, values):
    assert kind_from_values(name, column(*values)) is None


def test_a_birth_date_column_holding_years_only_is_kept():
    assert find_identifiers(["year of birth", "dob"], [column("1990", "1985"), column("1990", "1985")]) == []
    found = find_identifiers(["dob"], [column("1990-04-01", "1985-12-31")])
    assert [(f.column, f.kind) for f in found] == [("dob", BIRTH_DATE)]


def test_identifier_columns_are_dropped_with_a_message_and_the_rest_loads():
    csv = (
        b"patient_id,Name,sex,age,Email,phone,Date of birth\n"
        b"P1,Jane Smith,F,17,jane@example.org,+44 20 7946 0958,2004-03-02\n"
        b"P2,Omar Haddad,M,22,omar@example.org,+44 20 7946 0959,1999-11-20\n"
    )
    result = load_tables({"courses.csv": csv}, source="test")
    assert result.ok and result.cohort.n_courses == 2
    assert not {"Name", "Email", "phone", "Date of birth"} & set(result.cohort.courses.columns)
    for name, words in [
        ("Name", "people's names"),
        ("Email", "e-mail addresses"),
        ("phone", "phone numbers"),
        ("Date of birth", "full dates of birth"),
    ]:
        issue = only_finding(result.report, "courses.csv", None, name)
        assert (issue["severity"], issue["action"]) == (WARNING, COLUMN_DROPPED)
        assert words in issue["message"] and "dropped" in issue["message"]
    assert_counts_add_up(result.report)


def test_a_file_whose_only_patient_column_holds_names_is_refused():
    csv = b"Patient,sex,age\nJane Smith,F,17\nOmar Haddad,M,22\nLi Wei,F,30\nAnna Berg,F,19\nJohn Doe,M,40\n"
    result = load_tables({"clinic.csv": csv}, source="test")
    assert result.cohort is None
    issue = only_finding(result.report, "clinic.csv")
    assert (issue["severity"], issue["action"]) == (ERROR, FILE_IGNORED)
    assert "refused" in issue["message"] and "pseudonymous codes" in issue["message"]
    assert "Patient" in issue["message"]


def test_a_name_column_beside_a_pseudonymous_id_is_only_dropped():
    csv = b"Patient ID,Patient name,sex,age\nP1,Jane Smith,F,17\nP2,Omar Haddad,M,22\n"
    result = load_tables({"clinic.csv": csv}, source="test")
    assert result.ok and result.cohort.courses["patient_id"].tolist() == ["P1", "P2"]
    assert only_finding(result.report, "clinic.csv", None, "Patient name")["action"] == COLUMN_DROPPED
