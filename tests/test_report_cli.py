"""`python -m analysis report`: writes the HTML report with the summary's options, and says plainly what went wrong."""

import re
import subprocess
import sys
from pathlib import Path

from csv_bundles import VALID_COURSES, bundle

from analysis.cli import main

ROOT = Path(__file__).resolve().parent.parent


def write(folder: Path, files: dict[str, bytes]) -> Path:
    folder.mkdir(exist_ok=True)
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return folder


def test_the_demo_report_is_written_from_the_command_line(tmp_path):
    out = tmp_path / "report.html"
    completed = subprocess.run(
        [sys.executable, "-m", "analysis", "report", "demo", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.startswith(f"wrote {out} (") and "counts under 5 shown as '<5'" in completed.stdout
    html = out.read_text(encoding="utf-8")
    assert re.findall(r'<section id="([^"]+)"', html) == [
        "dataset",
        "definitions",
        "claims",
        "clearance",
        "side-effects",
        "relapse",
        "labs",
        "overview",
    ]
    assert "all courses (no filter)" in html and "Synthetic demo data" in html


def test_settings_group_and_private_mode_reach_the_report(tmp_path, capsys):
    out = tmp_path / "private.html"
    folder = write(tmp_path / "bundle", bundle())
    code = main(
        [
            "report",
            str(folder),
            "--out",
            str(out),
            "--set",
            "clearance.definition=iga_success",
            "--group-by",
            "site",
            "--no-suppression",
        ]
    )
    assert code == 0
    assert "private: small counts shown" in capsys.readouterr().out
    html = out.read_text(encoding="utf-8")
    assert "clearance.definition = iga_success" in html
    assert "Group comparisons</dt><dd>By site" in html
    assert "Private report: every count is shown" in html
    assert "<td>&lt;5</td>" not in html


def test_the_suppression_threshold_is_an_option(tmp_path):
    out = tmp_path / "report.html"
    assert main(["report", str(write(tmp_path / "bundle", bundle())), "--out", str(out), "--suppress-below", "3"]) == 0
    html = out.read_text(encoding="utf-8")
    assert "<td>&lt;3</td>" in html and "<td>&lt;5</td>" not in html


def test_usage_mistakes_exit_2_with_one_line(tmp_path, capsys):
    folder = write(tmp_path / "bundle", bundle())
    out = str(tmp_path / "r.html")
    assert main(["report", str(tmp_path / "missing"), "--out", out]) == 2
    assert main(["report", str(folder), "--out", out, "--set", "clearance.definition=nonsense"]) == 2
    assert main(["report", str(folder), "--out", out, "--group-by", "shoe_size"]) == 2
    errors = capsys.readouterr().err.strip().splitlines()
    assert [line.split(":")[0] for line in errors] == ["error"] * 3
    assert "no such file or folder" in errors[0] and "--set" in errors[1] and "--group-by" in errors[2]
    assert not Path(out).exists()


def test_data_that_cannot_be_loaded_exits_1_and_names_the_problem(tmp_path, capsys):
    folder = write(
        tmp_path / "bad",
        bundle(courses=tuple(row.replace(",F,", ",X,").replace(",M,", ",X,") for row in VALID_COURSES)),
    )
    out = tmp_path / "r.html"
    assert main(["report", str(folder), "--out", str(out)]) == 1
    assert "courses.csv" in capsys.readouterr().err
    assert not out.exists()


def test_an_unwritable_destination_exits_1(tmp_path, capsys):
    folder = write(tmp_path / "bundle", bundle())
    assert main(["report", str(folder), "--out", str(tmp_path / "no_such_folder" / "r.html")]) == 1
    assert "could not write" in capsys.readouterr().err
