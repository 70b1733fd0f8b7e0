"""Tables read where they live (`--table TABLE=SOURCE`): paths and catalog tables, on DuckDB and Spark,
give the summary the same files give, and bad values keep their findings naming table, row and column."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
import pytest

from analysis.cli import main
from analysis.demo import write_demo
from analysis.engine.sources import SourceError, parse_source


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bundle")
    write_demo(folder / "csv", n_courses=300, seed=3)
    pq.write_table(pa_csv.read_csv(folder / "csv" / "visits.csv"), folder / "visits.parquet")
    return folder


def sources(bundle) -> list[str]:
    """courses, side effects and labs as CSV, visits as Parquet."""
    tables = {name: bundle / "csv" / f"{name}.csv" for name in ("courses", "adverse_events", "labs")}
    tables["visits"] = bundle / "visits.parquet"
    return [argument for name, path in tables.items() for argument in ("--table", f"{name}={path}")]


def summary_json(capsys, argv: list[str]) -> dict:
    """The JSON summary without what names the files read (courses.csv there, courses.parquet here)."""
    assert main(argv) == 0
    summary = json.loads(capsys.readouterr().out)
    summary["cohort"].pop("source"), summary["cohort"].pop("fingerprint_sha256")
    summary.pop("validation")
    return summary


def from_folder(capsys, bundle) -> dict:
    return summary_json(capsys, ["summary", str(bundle / "csv"), "--json"])


def test_paths_read_by_duckdb_give_the_summary_of_the_files(bundle, capsys):
    assert summary_json(capsys, [*sources(bundle), "summary", "--json"]) == from_folder(capsys, bundle)


def test_paths_and_a_catalog_table_read_by_spark_give_the_summary_of_the_files(bundle, tmp_path, capsys, spark):
    session = spark.backend._session
    session.sql(f"CREATE DATABASE IF NOT EXISTS registry LOCATION '{tmp_path / 'registry'}'")
    courses = session.read.csv(str(bundle / "csv" / "courses.csv"), header=True, inferSchema=False)
    courses.write.mode("overwrite").saveAsTable("registry.courses")  # a table of the catalog
    argv = ["--engine", "spark", "--master", "local[2]", "--table", "courses=registry.courses"]
    argv += [*sources(bundle)[2:], "summary", "--json"]
    assert summary_json(capsys, argv) == from_folder(capsys, bundle)


@pytest.mark.parametrize("engine", ["duckdb", "spark"])
def test_a_bad_value_is_named_by_table_row_and_column(bundle, tmp_path, capsys, engine, request):
    if engine == "spark":
        request.getfixturevalue("spark")
    lines = (bundle / "csv" / "courses.csv").read_text().splitlines()
    header = lines[0].split(",")
    cells = lines[3].split(",")
    cells[header.index("age")] = "abc"
    lines[3] = ",".join(cells)
    (tmp_path / "courses.csv").write_text("\n".join(lines) + "\n")
    argv = ["--engine", engine, "--table", f"courses={tmp_path / 'courses.csv'}", "validate"]
    assert main(argv) == 1
    out = capsys.readouterr().out
    assert "courses.parquet:4 age: age must be a number from 8 to 100; found abc [error; row excluded]" in out


def test_a_source_that_cannot_be_read_is_a_usage_error_naming_it(tmp_path, capsys):
    missing = tmp_path / "nowhere.parquet"
    assert main(["--table", f"courses={missing}", "validate"]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith(f"error: --table courses: {missing} could not be read on duckdb (")
    assert len(error.splitlines()) == 1


def test_a_path_and_tables_together_are_refused(bundle, capsys):
    assert main(["--table", "courses=x.parquet", "summary", str(bundle / "csv")]) == 2
    assert "either PATH or --table" in capsys.readouterr().err


@pytest.mark.parametrize("text", ["courses", "courses=", "patients=db.patients", "=x.parquet"])
def test_table_sources_are_written_table_equals_source(text):
    with pytest.raises(SourceError):
        parse_source(text)


def test_a_table_source_names_a_table_and_where_it_is():
    assert parse_source(" labs = registry.labs ") == ("labs", "registry.labs")


def test_a_catalog_table_that_does_not_exist_is_named_with_what_the_engine_said(capsys):
    assert main(["--table", "courses=registry.courses", "validate"]) == 2
    assert capsys.readouterr().err.strip() == (
        "error: --table courses: registry.courses could not be read on duckdb (TableNotFound: courses)"
    )


def test_a_courses_table_without_patients_is_named_as_read(tmp_path, capsys):
    pq.write_table(pa.table({"sex": ["F", "M"], "age": [20, 30]}), tmp_path / "c.parquet")
    assert main(["--table", f"courses={tmp_path / 'c.parquet'}", "validate"]) == 1
    out = capsys.readouterr().out
    assert "courses.parquet: required column patient_id is missing; the columns found are: sex, age." in out
    assert "No data loaded: courses.parquet is needed and has problems listed above." in out
