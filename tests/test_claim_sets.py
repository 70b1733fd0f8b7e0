"""Claim sets from any source: TOML in the schema of data/claims.toml, checked against the catalogue,
round-tripped, used by the command line (--claims) and the report, and refused with a message naming
the claim and field when malformed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from analysis.areas.claims import compute as claims
from analysis.areas.claims.compute import CONTRADICTED, NOT_TESTABLE, SUPPORTED
from analysis.cohort.model import build_cohort
from analysis.outputs import report
from tests.test_claims import N, hand_tables

ROOT = Path(__file__).resolve().parent.parent

USER_SET = """
title = "Clinic leaflet, 2025"
source = "Acne clinic patient leaflet, page 2"
link = "https://example.org/leaflet.pdf"

[[claim]]
id = "L1"
quote = "Dry lips affect almost everyone on treatment."
reads_as = "at least half of courses have cheilitis"
measure = "side_effect_incidence"
params = { terms = ["Cheilitis"] }
threshold = 0.5
direction = ">="

[[claim.reading]]
reads_as = "most courses have a gastrointestinal side effect (the body system of cheilitis)"
params = { body_system = "Gastrointestinal disorders" }
threshold = 0.5
direction = ">"

[[claim]]
id = "L2"
quote = "Almost nobody needs a second course within a year."
label = "Second course within a year"
measure = "further_course_by"
params = { years = 1 }
threshold = 0.02
direction = "<"

[[claim]]
id = "L3"
quote = "Liver tests rarely reach grade 3."
measure = "lab_grade_at_least"
params = { test = "ALT", grade = 3 }
threshold = 0.01
direction = "<"
rare_event = true

[[claim]]
id = "L4"
quote = "By month 5 most are clear."
measure = "clear_at_month"
params = { month = 5 }
defaults = { "clearance.definition" = "iga01" }
threshold = 0.5
direction = ">"
"""


@pytest.fixture(scope="module")
def user_set() -> claims.ClaimSet:
    return claims.load_claim_set(USER_SET, "leaflet.toml")


@pytest.fixture(scope="module")
def hand():
    return build_cohort(hand_tables(), source="hand-made")


def test_the_bundled_set_round_trips_through_toml():
    bundled = claims.bundled_claim_set()
    again = claims.load_claim_set(bundled.to_toml(), "exported.toml")
    assert again == bundled
    assert again.reading_specs()["C01b"] == bundled.reading_specs()["C01b"]


def test_a_user_set_round_trips_through_toml(user_set):
    assert user_set.title == "Clinic leaflet, 2025" and list(user_set.by_id()) == ["L1", "L2", "L3", "L4"]
    assert claims.load_claim_set(user_set.to_toml()) == user_set
    assert claims.load_claim_set(user_set.to_toml().encode("utf-8")) == user_set


def test_user_claims_are_judged_exactly_as_built_in_ones(hand, user_set):
    results = {r.id: r for r in claims.evaluate_claims(hand, {claims.CLAIM_SET_KEY: user_set})}
    assert list(results) == ["L1", "L2", "L3", "L4"]
    cheilitis, gastro = results["L1"].readings
    assert (cheilitis.numerator, cheilitis.n) == (30, N) and cheilitis.verdict == SUPPORTED  # 75%, CI 60-86%
    assert gastro.numerator == 30 and gastro.verdict == SUPPORTED
    assert results["L2"].verdict == CONTRADICTED  # 4/40 further courses within a year: not below 2%
    assert results["L2"].page == "views/relapse.py"  # the page of its quantity
    assert results["L2"].explanation.endswith("the claim holds at < 2.0%: contradicted.")  # no wording given
    assert results["L3"].verdict in (SUPPORTED, claims.INCONCLUSIVE) and "ALT" in results["L3"].explanation
    assert results["L4"].verdict == SUPPORTED and results["L4"].numerator == 30  # IGA 1 in month 5 for 0-29
    table = claims.sensitivity(hand, None, {claims.CLAIM_SET_KEY: user_set})
    assert set(table["id"]) == {"L1", "L1b", "L2", "L3", "L4"}


def test_user_claims_take_thresholds_by_their_own_ids(hand, user_set):
    settings = {claims.CLAIM_SET_KEY: user_set, "claims.L2.threshold": 0.5}
    assert claims.evaluate_claims(hand, settings, ids=["L2"])[0].verdict == SUPPORTED
    with pytest.raises(ValueError, match="Unknown claim 'C01'"):
        claims.evaluate_claims(hand, {claims.CLAIM_SET_KEY: user_set, "claims.C01.threshold": 0.5})


def test_a_quantity_the_data_lacks_is_not_testable_with_its_reason(user_set):
    bare = build_cohort({"courses": hand_tables()["courses"]}, source="courses only")
    result = claims.evaluate_claims(bare, {claims.CLAIM_SET_KEY: user_set}, ids=["L3"])[0]
    assert result.verdict == NOT_TESTABLE and result.reason.endswith("would make it testable")


@pytest.mark.parametrize(
    "change, message",
    [
        (("threshold = 0.02", "threshold = 5"), "claim 2 (L2), field 'threshold': must be a share from 0 to 1"),
        (('measure = "further_course_by"', 'measure = "happiness"'), "claim 2 (L2), field 'measure': unknown quantity"),
        (
            ("params = { years = 1 }", 'params = { years = "one" }'),
            "claim 2 (L2), field 'params': years must be a number",
        ),
        (("params = { years = 1 }", "params = { decades = 1 }"), "field 'params': further_course_by has no parameter"),
        (('direction = "<"\n\n[[claim]]\nid = "L3"', 'direction = "<<"\n\n[[claim]]\nid = "L3"'), "field 'direction'"),
        (
            ('quote = "By month 5 most are clear."', 'label = "Clear in month 5"'),
            "claim 4 (L4), field 'quote': missing",
        ),
        (('quote = "By month 5 most are clear."', "quoted = 1"), "claim 4 (L4), field 'quoted': unknown field"),
        (('id = "L4"', 'id = "L1"'), "field 'id': L1 is used twice"),
        (('"clearance.definition" = "iga01"', '"clearance.definition" = "perfect"'), "claim 4 (L4), field 'defaults'"),
        (
            ('threshold = 0.5\ndirection = ">"\n\n[[claim]]', 'thresold = 0.5\ndirection = ">"\n\n[[claim]]'),
            "reading b, field 'thresold'",
        ),
        (('title = "Clinic leaflet, 2025"', "title = [1"), "is not valid TOML"),
    ],
)
def test_a_malformed_claim_file_names_the_claim_and_field(change, message):
    old, new = change
    assert old in USER_SET
    with pytest.raises(claims.ClaimSetError, match=None) as refused:
        claims.load_claim_set(USER_SET.replace(old, new, 1), "leaflet.toml")
    assert message in str(refused.value) and str(refused.value).startswith("Claim file leaflet.toml")


def test_an_empty_or_unreadable_claim_file_is_refused_plainly(tmp_path):
    with pytest.raises(claims.ClaimSetError, match="holds no claims"):
        claims.load_claim_set('title = "nothing"')
    with pytest.raises(claims.ClaimSetError, match="is not UTF-8 text"):
        claims.load_claim_set(b"\xff\xfe\x00x")
    with pytest.raises(claims.ClaimSetError, match="cannot be read"):
        claims.load_claim_set(tmp_path / "absent.toml")


def test_the_report_uses_the_active_claim_set_and_suppresses_its_small_counts(hand, user_set):
    settings = {claims.CLAIM_SET_KEY: user_set}
    shared = report.build_report(hand.subset(hand.courses["course_idx"][:3]), settings, "three courses")
    assert '<tr data-claim="L1">' in shared and '<tr data-claim="C01">' not in shared
    assert "from the claim set “Clinic leaflet, 2025”" in shared and "https://example.org/leaflet.pdf" in shared
    assert "claims.set = Clinic leaflet, 2025 (4 claims)" in shared
    assert "withheld: fewer than 5 courses on one side" in shared  # presenter suppression holds for user claims
    for drawn in ("(C01b):", "(C01): median", "courses (C13, C14)"):  # no reading of this set is on the outcome charts
        assert drawn not in shared


def run(*args) -> subprocess.CompletedProcess:
    completed = subprocess.run(
        [sys.executable, "-m", "analysis", *map(str, args)], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert "Traceback" not in completed.stderr, completed.stderr
    return completed


def test_the_command_line_tests_a_claim_file(tmp_path):
    path = tmp_path / "leaflet.toml"
    path.write_text(USER_SET, encoding="utf-8")
    completed = run("summary", "demo", "--json", "--claims", path)
    assert completed.returncode == 0, completed.stderr
    rows = json.loads(completed.stdout)["claims"]
    assert [row["id"] for row in rows] == ["L1", "L2", "L3", "L4"]
    assert [reading["id"] for reading in rows[0]["readings"]] == ["L1", "L1b"]
    path.write_text(USER_SET.replace("threshold = 0.02", "threshold = 5"), encoding="utf-8")
    refused = run("summary", "demo", "--json", "--claims", path)
    assert refused.returncode == 2 and refused.stdout == ""
    assert "--claims: Claim file leaflet.toml: claim 2 (L2), field 'threshold'" in refused.stderr


def test_the_readme_example_is_a_valid_claim_set_and_the_catalogue_is_documented():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("### Claims from any source", 1)[1].split("## Performance", 1)[0]
    example = section.split("```toml\n", 1)[1].split("```", 1)[0]
    assert list(claims.load_claim_set(example, "README").by_id()) == ["L1"]
    for key in claims.CATALOGUE:
        assert f"| `{key}` |" in section, key
