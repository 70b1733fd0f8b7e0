"""Shared fixtures: a small hand-made cohort whose derived values are computed by hand."""

from __future__ import annotations

import os
import shutil
import tomllib
from pathlib import Path

import pandas as pd
import pytest
from streamlit import config as streamlit_config

from analysis.cohort.model import build_cohort

ROOT = Path(__file__).resolve().parent.parent
EXTERNAL = ROOT.parent / "shared" / "external"


def pytest_configure(config):
    """The project's listen address from any working directory: `streamlit run` reads the `.streamlit/config.toml`
    beside dashboard.py, AppTest only the one in the working directory, and without it every page is refused."""
    server = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())["server"]
    streamlit_config.set_option("server.address", server["address"])


def tiny_tables() -> dict[str, pd.DataFrame]:
    courses = pd.DataFrame(
        {
            "patient_id": ["A", "B", "C", "C"],
            "course_number": pd.array([1, 1, 1, 2], dtype="Int64"),
            "sex": ["F", "M", "F", "F"],
            "age": pd.array([16.0, 24.0, 30.0, 31.5], dtype="Float64"),
            "age_band": [None, None, None, None],
            "weight_kg": pd.array([50.0, 80.0, 60.0, 60.0], dtype="Float64"),
            "baseline_iga": pd.array([4, None, 3, 3], dtype="Int64"),
            "site": ["North", "South", "North", "North"],
            "start_date": pd.to_datetime(["2019-03-01", "2021-06-15", "2020-01-10", "2021-05-01"]),
            "end_day": pd.array([149, 99, 179, None], dtype="Int64"),
            "cumulative_dose_mg": pd.array([6000.0, None, 14400.0, None], dtype="Float64"),
            "arm": ["x", "y", "x", "y"],
        }
    )
    visits = pd.DataFrame(
        {
            "patient_id": ["A", "A", "A", "B", "B", "B", "C"],
            "course_number": pd.array([1, 1, 1, 1, 1, 1, 1], dtype="Int64"),
            "day": pd.array([0, 30, 149, -7, 50, 99], dtype="Int64").tolist() + [0],
            "iga": pd.array([4, 3, 1, 3, 2, 1, 3], dtype="Int64"),
            "inflammatory_lesions": pd.array([30, 33, 2, 20, 10, 1, 10], dtype="Int64"),
            "noninflammatory_lesions": pd.array([20, 22, 3, 20, 10, 1, 10], dtype="Int64"),
            "nodules": pd.array([5, 5, 0, None, None, None, None], dtype="Int64"),
            "total_lesions": pd.array([None, None, None, None, None, None, 25], dtype="Int64"),
            "dose_mg_per_day": pd.array([None, None, None, 40.0, 80.0, None, None], dtype="Float64"),
        }
    )
    visits["day"] = visits["day"].astype("Int64")
    return {"courses": courses, "visits": visits}


@pytest.fixture
def tiny_cohort():
    return build_cohort(tiny_tables(), source="tiny")


@pytest.fixture(scope="session")
def spark():
    """One local[2] Spark session for the test run. Without Java the Spark tests are skipped, saying
    so, except under CI (CI=true), where `.ci/run` installs Java and a skip would hide a failure."""
    from analysis.engine.connection import spark_engine

    if not (os.environ.get("JAVA_HOME") or shutil.which("java")) and os.environ.get("CI") != "true":
        pytest.skip("Spark needs Java (openjdk-17-jre-headless); .ci/run installs it")
    return spark_engine("local[2]")
