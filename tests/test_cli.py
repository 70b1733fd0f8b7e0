"""The command line, run as a user runs it: exit codes, what is printed, and no stack traces."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from csv_bundles import VALID_COURSES, VALID_VISITS, bundle, csv

ROOT = Path(__file__).resolve().parent.parent


def run(*args: str) -> subprocess.CompletedProcess:
    completed = subprocess.run(
        [sys.executable, "-m", "analysis", *map(str, args)], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert "Traceback" not in completed.stderr, completed.stderr
    return completed


def write(folder: Path, files: dict[str, bytes]) -> Path:
    folder.mkdir(exist_ok=True)
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return folder


def test_validate_a_clean_bundle_exits_0(tmp_path):
    completed = run("validate", write(tmp_path / "clean", bundle()))
    assert completed.returncode == 0
    assert completed.stdout.splitlines()[0] == "courses.csv: 3 rows read, 3 kept."
    assert completed.stdout.splitlines()[-1] == "No problems found."


def test_validate_lists_findings_as_file_row_column_and_exits_1(tmp_path):
    files = bundle(courses=(*VALID_COURSES, "P4,1,X,30,60,3,120,"))
    completed = run("validate", write(tmp_path / "bad", files))
    assert completed.returncode == 1
    assert (
        "courses.csv:5 sex: sex must be one of F, M, other, unknown; found X [error; row excluded]" in completed.stdout
    )
    assert "courses.csv: 4 rows read, 3 kept, 1 excluded (1 invalid sex)." in completed.stdout


def test_validate_caps_the_list_unless_asked_for_all(tmp_path):
    visits = tuple(f"P1,1,{day},9,10" for day in range(60))  # 60 warnings, no error, 60 values set to missing
    folder = write(tmp_path / "many", bundle(visits=visits))
    capped, everything = run("validate", folder), run("validate", folder, "--all")
    assert capped.returncode == everything.returncode == 1
    assert "exit status 1: 60 values set to missing" in capped.stderr
    assert capped.stdout.count(" iga: ") == 50
    assert capped.stdout.splitlines()[-1] == "... and 10 more (use --all to list every finding)"
    assert everything.stdout.count(" iga: ") == 60 and "more" not in everything.stdout


def test_validate_a_path_that_does_not_exist_is_a_usage_error(tmp_path):
    completed = run("validate", tmp_path / "nowhere")
    assert completed.returncode == 2 and "no such file or folder" in completed.stderr


def test_summary_prints_json(tmp_path):
    folder = write(tmp_path / "clinic", bundle())
    completed = run("summary", folder, "--json", "--group-by", "sex", "--set", "clearance_reduction_pct=80")
    assert completed.returncode == 0, completed.stderr
    summary = json.loads(completed.stdout)
    assert summary["cohort"]["courses"] == 3 and summary["cohort"]["source"] == "clinic"


def test_summary_prints_readable_text_and_notes_input_problems(tmp_path):
    files = bundle(visits=(*VALID_VISITS, "P1,1,60,7,10"))
    completed = run("summary", write(tmp_path / "clinic", files))
    assert completed.returncode == 0
    assert "  courses: 3" in completed.stdout.splitlines()
    assert "0 errors and 1 warning in the input" in completed.stderr


def test_summary_of_data_that_cannot_be_loaded_exits_1_with_the_reasons(tmp_path):
    folder = write(tmp_path / "broken", {"courses.csv": csv("patient_id,age", "P1,20")})
    completed = run("summary", folder, "--json")
    assert completed.returncode == 1 and completed.stdout == ""
    assert "courses.csv: required column sex is missing" in completed.stderr


@pytest.mark.parametrize("args", [(), ("summary", "--set", "no-equals-sign"), ("demo", "--courses", "0", "--out", "x")])
def test_usage_problems_exit_2(args):
    completed = run(*args)
    assert completed.returncode == 2 and "usage:" in completed.stderr


def test_group_by_an_unknown_column_exits_2(tmp_path):
    completed = run("summary", write(tmp_path / "clinic", bundle()), "--group-by", "shoe_size")
    assert completed.returncode == 2 and "no column 'shoe_size'" in completed.stderr


def test_demo_writes_a_cohort_that_validates(tmp_path):
    pytest.importorskip("analysis.demo")
    out = tmp_path / "demo"
    written = run("demo", "--courses", "40", "--seed", "2", "--out", out)
    assert written.returncode == 0, written.stderr
    assert sorted(path.name for path in out.iterdir()) == [
        "adverse_events.csv",
        "courses.csv",
        "labs.csv",
        "visits.csv",
    ]
    checked = run("validate", out)
    assert checked.returncode == 0 and checked.stdout.splitlines()[-1] == "No problems found."


def test_key_value_reads_numbers_and_text():
    from analysis.cli import key_value

    assert key_value("threshold=0.5") == ("threshold", 0.5)
    assert key_value("definition=iga_success") == ("definition", "iga_success")
    assert key_value("flag=true") == ("flag", True)


def test_text_output_indents_nested_sections():
    from analysis.cli import text_lines

    lines = text_lines({"cohort": {"courses": 1200, "share": 0.123456, "rows": {"visits": 3}}, "sites": ["N", "S"]})
    assert lines == ["cohort:", "  courses: 1,200", "  share: 0.1235", "  rows:", "    visits: 3", "sites: N, S"]


def test_json_ready_turns_numpy_and_missing_values_into_plain_json():
    import numpy as np
    import pandas as pd

    from analysis.cli import json_ready

    value = {
        "n": np.int64(3),
        "p": np.float64("nan"),
        "missing": pd.NA,
        "when": pd.Timestamp("2021-01-02"),
        "xs": np.arange(2),
    }
    assert json.dumps(json_ready(value), allow_nan=False) == (
        '{"n": 3, "p": null, "missing": null, "when": "2021-01-02T00:00:00", "xs": [0, 1]}'
    )
