"""The engines: DuckDB keeps a cohort in memory only; on the command line, --engine and --master
mistakes and a missing Java runtime are usage errors of one line (exit 2), never a Java stack trace."""

from __future__ import annotations

import subprocess
import sys

import pytest

from analysis.cli import main
from analysis.engine import connection
from tests.conftest import ROOT


def test_master_without_spark_is_a_usage_error(capsys):
    assert main(["--master", "local[2]", "summary", "demo"]) == 2
    assert capsys.readouterr().err.strip() == "error: --master applies to --engine spark"


def test_spark_without_java_says_what_to_install(monkeypatch, capsys):
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setattr(connection.shutil, "which", lambda name: None)
    monkeypatch.setattr(connection, "_SPARK", {})
    assert main(["--engine", "spark", "--master", "local[1]", "summary", "demo"]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("error: --engine spark: Spark needs Java") and "openjdk-17-jre-headless" in error
    assert len(error.splitlines()) == 1


def test_an_unknown_engine_is_refused_by_the_parser(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--engine", "postgres", "summary", "demo"])
    assert exit_.value.code == 2
    assert "invalid choice: 'postgres'" in capsys.readouterr().err


def test_the_default_engine_keeps_everything_in_memory():
    """An in-memory DuckDB spills to `.tmp` in the working folder unless told not to: uploads never touch disk."""
    engine = connection.duckdb_engine()
    settings = engine.backend.raw_sql(
        "select current_setting('temp_directory'), database_size.database_name from pragma_database_size() database_size"
    ).fetchall()
    assert settings == [("", "memory")]


def test_validate_checks_the_files_without_starting_an_engine():
    """`validate` needs the report only: no cohort is built, so ibis and the engine are never loaded."""
    script = (
        "import sys, contextlib, io\n"
        "from analysis.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    status = main(['validate', 'demo'])\n"
        "print(status, 'ibis' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.stdout.split() == ["0", "False"], done.stderr
