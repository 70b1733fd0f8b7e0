"""The claims on the command line: the same verdicts as the app, settings by --set, groups."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from analysis.areas.claims import compute as claims
from analysis.cohort.loading import DEMO_DIR, load_demo

ROOT = Path(__file__).resolve().parent.parent
needs_demo = pytest.mark.skipif(
    not (DEMO_DIR / "courses.csv").exists(), reason="the bundled demo cohort (data/demo) is not generated"
)


def run(*args: str) -> subprocess.CompletedProcess:
    completed = subprocess.run(
        [sys.executable, "-m", "analysis", *map(str, args)], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert "Traceback" not in completed.stderr, completed.stderr
    return completed


def summary_claims(*args: str) -> list[dict]:
    completed = run("summary", "demo", "--json", *args)
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout)["claims"]


@pytest.fixture(scope="module")
def default_claims():
    return summary_claims()


@needs_demo
def test_summary_has_every_claim_with_the_pinned_keys(default_claims):
    assert [row["id"] for row in default_claims] == [f"C{i:02d}" for i in range(1, 21)]
    for row in default_claims:
        assert tuple(row) == claims.JSON_KEYS
        assert row["verdict"] in claims.VERDICTS and row["explanation"]


@needs_demo
def test_command_line_and_app_give_the_same_verdicts(default_claims):
    in_process = claims.evaluate_claims(load_demo().cohort)
    assert [(r["id"], r["verdict"], r["n"]) for r in default_claims] == [(r.id, r.verdict, r.n) for r in in_process]
    for row, result in zip(default_claims, in_process):
        assert (
            row["estimate"] == pytest.approx(result.estimate)
            if result.estimate is not None
            else row["estimate"] is None
        )


@needs_demo
def test_set_changes_thresholds_and_definitions(default_claims):
    changed = {
        row["id"]: row
        for row in summary_claims(
            "--set", "claims.C01.threshold=0.9", "--set", "clearance.missing=nri", "--set", "claims.C11.threshold=1/10"
        )
    }
    before = {row["id"]: row for row in default_claims}
    assert before["C01"]["verdict"] == claims.SUPPORTED
    assert changed["C01"]["readings"][0]["verdict"] == claims.CONTRADICTED  # most courses end 80% down: not 90%
    assert changed["C01"]["threshold"] == 0.9 and "changed from the default > 50%" in changed["C01"]["explanation"]
    assert "counted as not clear" in changed["C02"]["definition"] and changed["C02"]["n"] >= before["C02"]["n"]
    assert changed["C11"]["verdict"] == claims.SUPPORTED  # vision disorders are below 1 in 10


@needs_demo
def test_group_by_gives_claims_per_group():
    rows = summary_claims("--group-by", "site")
    for row in rows:
        groups = [entry["group"] for entry in row["by_group"]]
        assert groups == sorted(groups) and len(groups) >= 2
        assert all(tuple(entry) == ("group_by", "group", *claims.GROUP_KEYS) for entry in row["by_group"])


@pytest.mark.parametrize(
    "setting, message",
    [
        ("claims.C99.threshold=0.5", "Unknown claim 'C99'"),
        ("claims.C01.threshold=most", "must be a share"),
        ("clearance.definition=perfect", "Unknown clearance definition"),
    ],
)
def test_a_setting_that_cannot_be_used_is_a_usage_error(setting, message):
    completed = run("summary", "demo", "--json", "--set", setting)
    assert completed.returncode == 2 and message in completed.stderr and completed.stdout == ""


@needs_demo
def test_text_output_lists_the_claims():
    completed = run("summary", "demo")
    assert completed.returncode == 0
    assert (
        "claims:" in completed.stdout and "id: C20" in completed.stdout and "verdict: not testable" in completed.stdout
    )


def test_readme_documents_every_section_and_claim_key():
    from analysis.areas.registry import AREAS

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "## Command line JSON" in readme
    documented = readme.split("## Command line JSON", 1)[1]
    for name in ["cohort", *(area.key for area in AREAS if area.summary), *claims.JSON_KEYS, "by_group"]:
        assert f"`{name}`" in documented, name
