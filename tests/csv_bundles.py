"""Small canonical CSV bundles for the loading, validation and command-line tests."""

from __future__ import annotations

import io

import pandas as pd

COURSES_HEADER = "patient_id,course_number,sex,age,weight_kg,baseline_iga,end_day,relapse_day"
VISITS_HEADER = "patient_id,course_number,day,iga,inflammatory_lesions"
AE_HEADER = "patient_id,course_number,term,onset_day,resolved_day"
LABS_HEADER = "patient_id,course_number,day,test,value,unit"

VALID_COURSES = ("P1,1,F,16,50,4,150,", "P2,1,M,24,80,3,100,", "P3,1,F,30,60,3,120,")
VALID_VISITS = ("P1,1,0,4,30", "P1,1,30,3,20", "P2,1,0,3,10")
VALID_AE = ("P1,1,dry lips,10,40", "P2,1,headache,5,")
VALID_LABS = ("P1,1,0,ALT,30,U/L", "P3,1,0,TG,150,mg/dL")


def csv(header: str, *rows: str) -> bytes:
    return ("\n".join((header, *rows)) + "\n").encode()


def bundle(courses=VALID_COURSES, visits=VALID_VISITS, adverse_events=VALID_AE, labs=VALID_LABS) -> dict[str, bytes]:
    """File name -> bytes; pass None to leave a table out."""
    tables = {
        "courses.csv": (COURSES_HEADER, courses),
        "visits.csv": (VISITS_HEADER, visits),
        "adverse_events.csv": (AE_HEADER, adverse_events),
        "labs.csv": (LABS_HEADER, labs),
    }
    return {name: csv(header, *rows) for name, (header, rows) in tables.items() if rows is not None}


def findings(report, file: str, row: int | None = None, column: str | None = None) -> pd.DataFrame:
    """The report's findings about one file (and row, and column; None for file- or row-level)."""
    issues = report.issues
    selected = issues["file"] == file
    selected &= issues["row"].isna() if row is None else issues["row"] == row
    selected &= issues["column"].isna() if column is None else issues["column"] == column
    return issues[selected.fillna(False).astype(bool)]


def assert_case_findings(case, result) -> None:
    """A corpus case's expected findings each found once, with their severity and action; the load
    succeeding or not as expected; and every row counted (no internal error on the way)."""
    report = result.report
    assert not report.issues["message"].str.contains("internal error").any(), report.finding_lines(5)
    for expect in case.expect:
        found = findings(report, expect.file, expect.row, expect.column)
        found = found[found["message"].map(lambda message, words=expect.words: all(word in message for word in words))]
        assert len(found) == 1, f"no single finding {expect} in:\n" + "\n".join(report.finding_lines())
        issue = found.iloc[0]
        assert (issue["severity"], issue["action"]) == (expect.severity, expect.action), issue.to_dict()
    if case.loads is not None:
        assert result.ok == case.loads, report.finding_lines()
    if case.check is not None:
        assert case.check(result)
    assert_counts_add_up(report)


def only_finding(report, file: str, row: int | None = None, column: str | None = None) -> pd.Series:
    found = findings(report, file, row, column)
    assert len(found) == 1, f"expected one finding at {file}:{row} {column}, got:\n{report.issues.to_string()}"
    return found.iloc[0]


def assert_counts_add_up(report) -> None:
    """Every row read is either kept or excluded under a reason."""
    for file, read in report.rows_read.items():
        excluded = sum(report.excluded.get(file, {}).values())
        assert read == report.rows_kept[file] + excluded, (
            file,
            read,
            report.rows_kept[file],
            report.excluded.get(file),
        )


def workbook(frames: dict[str, pd.DataFrame]) -> bytes:
    """An Excel workbook with one sheet per frame, as a user's upload."""
    buffer = io.BytesIO()
    with pd.ExcelWriter(buffer) as writer:
        for name, frame in frames.items():
            frame.to_excel(writer, sheet_name=name, index=False)
    return buffer.getvalue()
