"""The claims scorecard: the claims file, the verdict rules at their edges, each claim on a
hand-made cohort whose answers are counted by hand, and the demo cohort's verdicts."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import pandas as pd
import pytest
from statsmodels.stats.proportion import proportion_confint

from analysis.areas.base import SummaryOptions
from analysis.areas.claims import compute as claims
from analysis.areas.claims import figures as claims_figures
from analysis.areas.claims.compute import CONTRADICTED, DESCRIBED, INCONCLUSIVE, NOT_TESTABLE, SUPPORTED
from analysis.areas.literature import references
from analysis.cohort.model import build_cohort
from analysis.schema import SPECS
from analysis.stats.intervals import Estimate

ROOT = Path(__file__).resolve().parent.parent
ARTICLE = ROOT.parent / "shared" / "seed" / "000_380f891f1733f353.txt"
IDS = [f"C{i:02d}" for i in range(1, 21)]
READ_TWICE = ("C01", "C02", "C05", "C06", "C07", "C17")  # claims an honest reader can take two ways


# ---------------------------------------------------------------------------------------------
# A hand-made cohort of 40 first courses; every expected share below is counted by hand.
#
# courses 0-19 adults (25 y), 20-39 adolescents (16 y); 0-29 had an oral antibiotic before.
# Course length: 0-29 end on day 149 (150 days), 30-39 on day 199 (200 days); 35-39 ended for a
#   side effect, the rest completed.                                   C05 = 30 / 35
# Visits: day 0 IGA 3, 20 + 20 lesions; day 20 IGA 3, courses 0-9 at 24 + 22 (+15%, a flare);
#   day 61 IGA 2, inflammatory 10 for courses 0-34 (fewer), 20 for 35-39;
#   last dose day: IGA 1 for 0-29 (clear), 3 for 30-39; 2 + 2 lesions (-90%) for 0-24, else 10 + 10.
#                                                C01 = 25/40, C02 = 30/40, C03 = 35/40, C04 = 10/40
#                         C15 = 20/20 adults (adolescents 10/20), C16 = 30/30 (without: 0/10)
#                         C17 = 30/40 clear by month 6 (first clear in month 5; others censored in month 7)
# Follow-up 800 days after the last dose; relapse 100 days after it for 0-7, 500 days for 8-11;
#   a second course 300 days after it for 0-3.          C06 = 28/40, C07 = 8/40, C08 = 4/40
# Side effects (onset day 10): dry lips 0-29 (resolved 30 days after the last dose), nosebleed 0-4
#   (never resolved), myalgia 0-1, blurred vision 0, depression 1 (resolved on treatment).
#   C09: 30/40, 30/40, 5/40, 2/40, 0/40     C10 = 34/39 events     C11 = 1/40     C12 = 1/40
# Labs: ALT 20 -> 60 U/L (upper limit 40) for 0-3, TC 150 -> 250 mg/dL for 0-9, TG 100 -> 200 for
#   0-19.                                                        C13 = 4/40, C14 = 10/40 (TG 20/40)
# Pregnancy tests: courses 0-9 can become pregnant (5 treatment months each); 0-4 tested every
#   month, 5-9 only before the first dose.                                       C19 = 30/50 months
N = 40
EXPECTED = {
    "C01": (25, 40),
    "C02": (30, 40),
    "C03": (35, 40),
    "C04": (10, 40),
    "C05": (30, 35),
    "C10": (34, 39),
    "C11": (1, 40),
    "C12": (1, 40),
    "C13": (4, 40),
    "C14": (10, 40),
    "C15": (20, 20),
    "C16": (30, 30),
    "C18": (40, 40),
    "C19": (30, 50),
}
KAPLAN_MEIER = {"C06": 28 / 40, "C07": 8 / 40, "C08": 4 / 40, "C17": 30 / 40}


def typed(name: str, columns: dict) -> pd.DataFrame:
    """A canonical table with every column of the schema, typed, from the given columns."""
    length = len(next(iter(columns.values())))
    frame = {}
    for spec in SPECS[name].columns:
        values = columns.get(spec.name, [None] * length)
        if spec.kind == "int":
            frame[spec.name] = pd.array(pd.to_numeric(pd.Series(values, dtype="object")), dtype="Int64")
        elif spec.kind == "float":
            frame[spec.name] = pd.array(pd.to_numeric(pd.Series(values, dtype="object")), dtype="Float64")
        elif spec.kind == "date":
            frame[spec.name] = pd.to_datetime(pd.Series(values))
        else:
            frame[spec.name] = pd.Series(values, dtype="object")
    extra = {k: v for k, v in columns.items() if k not in frame}
    return pd.DataFrame({**frame, **extra})


def hand_tables(n: int = N) -> dict[str, pd.DataFrame]:
    ids = [f"P{i:02d}" for i in range(n)]
    end = [149 if i < 30 else 199 for i in range(n)]
    courses = typed(
        "courses",
        {
            "patient_id": ids,
            "course_number": [1] * n,
            "sex": ["F" if i < 20 else "M" for i in range(n)],
            "age": [25.0 if i < 20 else 16.0 for i in range(n)],
            "weight_kg": [60.0] * n,
            "site": ["North"] * n,
            "prior_treatments": [
                "oral_antibiotic;topical_retinoid" if i < 30 else "topical_retinoid" for i in range(n)
            ],
            "end_day": end,
            "end_reason": ["adverse_event" if i >= 35 else "completed" for i in range(n)],
            "followup_end_day": [e + 800 for e in end],
            "relapse_day": [e + 100 if i < 8 else e + 500 if i < 12 else None for i, e in enumerate(end)],
            "retreat_day": [e + 300 if i < 4 else None for i, e in enumerate(end)],
            "can_become_pregnant": ["yes" if i < 10 else "no" for i in range(n)],
        },
    )
    return {
        "courses": courses,
        "visits": hand_visits(ids, end),
        "adverse_events": hand_events(ids, end),
        "labs": hand_labs(ids),
    }


def hand_visits(ids: list[str], end: list[int]) -> pd.DataFrame:
    rows = []
    for i, (patient, last) in enumerate(zip(ids, end)):
        rows.append((patient, 0, 3, 20, 20))
        rows.append((patient, 20, 3, 24 if i < 10 else 20, 22 if i < 10 else 20))
        rows.append((patient, 61, 2, 10 if i < 35 else 20, 20))
        lesions = 2 if i < 25 else 10
        rows.append((patient, last, 1 if i < 30 else 3, lesions, lesions))
    patient, day, iga, inflammatory, comedones = zip(*rows)
    return typed(
        "visits",
        {
            "patient_id": list(patient),
            "course_number": [1] * len(rows),
            "day": list(day),
            "iga": list(iga),
            "inflammatory_lesions": list(inflammatory),
            "noninflammatory_lesions": list(comedones),
            "nodules": [0] * len(rows),
        },
    )


def hand_events(ids: list[str], end: list[int]) -> pd.DataFrame:
    rows = []
    for i, (patient, last) in enumerate(zip(ids, end)):
        if i < 30:
            rows.append((patient, "dry lips", last + 30))
        if i < 5:
            rows.append((patient, "nosebleed", None))
        if i < 2:
            rows.append((patient, "myalgia", 50))
        if i == 0:
            rows.append((patient, "blurred vision", 50))
        if i == 1:
            rows.append((patient, "depression", 50))
    patient, term, resolved = zip(*rows)
    return typed(
        "adverse_events",
        {
            "patient_id": list(patient),
            "course_number": [1] * len(rows),
            "term": list(term),
            "onset_day": [10] * len(rows),
            "resolved_day": list(resolved),
        },
    )


def hand_labs(ids: list[str]) -> pd.DataFrame:
    rows = []
    for i, patient in enumerate(ids):
        rows += [
            (patient, -5, "ALT", 20.0, "U/L"),
            (patient, 60, "ALT", 60.0 if i < 4 else 25.0, "U/L"),
            (patient, -5, "TC", 150.0, "mg/dL"),
            (patient, 60, "TC", 250.0 if i < 10 else 160.0, "mg/dL"),
            (patient, -5, "TG", 100.0, "mg/dL"),
            (patient, 60, "TG", 200.0 if i < 20 else 110.0, "mg/dL"),
        ]
        if i < 10:
            days = (-3, 30, 61, 91, 122) if i < 5 else (-3,)
            rows += [(patient, day, "HCG", 1.0, "mIU/mL") for day in days]
    patient, day, test, value, unit = zip(*rows)
    return typed(
        "labs",
        {
            "patient_id": list(patient),
            "course_number": [1] * len(rows),
            "day": list(day),
            "test": list(test),
            "value": list(value),
            "unit": list(unit),
        },
    )


@pytest.fixture(scope="module")
def hand():
    return build_cohort(hand_tables(), source="hand-made")


@pytest.fixture(scope="module")
def hand_results(hand):
    return {result.id: result for result in claims.evaluate_claims(hand)}


# ---------------------------------------------------------------------------------------------
# The claims file


def normalised(text: str) -> str:
    """Only the en dash and whitespace are normalised when matching quotes to the article."""
    return re.sub(r"\s+", " ", text.replace("–", "-")).strip()


@pytest.fixture(scope="module")
def article() -> str:
    if not ARTICLE.exists():
        pytest.skip(f"the source document is not at {ARTICLE}")
    return normalised(ARTICLE.read_text(encoding="utf-8"))


def test_every_claim_is_in_the_file_in_order_with_a_function():
    specs = claims.claim_specs()
    assert list(specs) == IDS
    readings = claims.bundled_claim_set().reading_specs()
    assert set(readings) == set(IDS) | {f"{claim_id}b" for claim_id in READ_TWICE}


def test_the_catalogue_covers_every_quantity_a_built_in_claim_uses():
    for reading in claims.bundled_claim_set().reading_specs().values():
        assert reading.measure in claims.CATALOGUE, f"{reading.id} uses {reading.measure!r}, missing from the catalogue"
        entry = claims.CATALOGUE[reading.measure]
        assert entry.check_params(reading.param_dict) == {
            param.name: reading.param_dict.get(param.name, param.default) for param in entry.params
        }


@pytest.mark.parametrize("claim_id", IDS)
def test_quote_is_verbatim_in_the_article(article, claim_id):
    spec = claims.claim_spec(claim_id)
    pieces = spec.fragments or (spec.quote,)
    for piece in pieces:
        assert normalised(piece) in article, piece
    if spec.fragments:
        assert spec.quote == f"{spec.fragments[0]} {', '.join(spec.fragments[1:])}"


def article_sections() -> dict[str, str]:
    """The article's text under each heading (lines starting with the blue diamond)."""
    sections, current = {}, "(before the first heading)"
    for line in ARTICLE.read_text(encoding="utf-8").splitlines():
        if line.startswith("🔹"):
            current = line.removeprefix("🔹").strip()
        sections[current] = sections.get(current, "") + " " + line
    return {heading: normalised(text) for heading, text in sections.items()}


@pytest.mark.parametrize("claim_id", IDS)
def test_quote_stands_under_its_section(article, claim_id):
    spec = claims.claim_spec(claim_id)
    sections = article_sections()
    assert spec.section in sections
    for piece in spec.fragments or (spec.quote,):
        assert normalised(piece) in sections[spec.section], piece


def test_thresholds_and_directions_follow_the_product_spec():
    specs = claims.claim_specs()
    expected = {
        "C01": (">", 0.5),
        "C02": (">", 0.5),
        "C03": (">", 0.5),
        "C05": (">", 0.5),
        "C06": (">", 0.5),
        "C07": ("<", 0.10),
        "C08": ("<", 0.20),
        "C09": (">=", 0.01),
        "C10": (">", 0.5),
        "C11": ("<", 0.001),
        "C12": ("<", 0.0001),
        "C13": ("<", 0.001),
        "C14": ("<", 0.001),
        "C15": (">", 0.5),
        "C16": (">", 0.5),
        "C17": (">", 0.5),
    }
    for claim_id, (direction, threshold) in expected.items():
        assert (specs[claim_id].direction, specs[claim_id].threshold) == (direction, threshold), claim_id
    assert {i for i, s in specs.items() if s.direction == "described"} == {"C04", "C18", "C19", "C20"}
    assert {i for i, s in specs.items() if s.rare_event} == {"C11", "C12", "C13", "C14"}


def test_literature_settings_and_pages_are_known():
    known_pages = {
        "views/clearance.py",
        "views/side_effects.py",
        "views/relapse.py",
        "views/labs.py",
        "views/overview.py",
        "views/data.py",
    }
    for spec in claims.claim_specs().values():
        assert set(spec.literature) <= set(references()), spec.id
        assert spec.compare is None or spec.compare in spec.literature
        assert set(spec.sensitivity) <= set(claims.ALTERNATIVES)
        assert set(spec.sensitivity) <= set(spec.applies)
        assert spec.page in known_pages
        assert spec.min_n >= 1


def test_published_figures_read_in_a_few_words_and_a_change_is_not_shown_as_a_negative_share():
    assert claims.literature_short(("end_of_course_iga01",)) == "87% (Patel, Baquerizo Nole, Fleischer 2021)"
    assert (
        claims.literature_short(("end_of_course_iga01", "relapse_any"))
        == "87% (Patel, Baquerizo Nole, Fleischer 2021) and 1 more"
    )
    assert claims.literature_short(("lesion_reduction_week20",)) == "93% fewer lesions at week 20 (Tan et al. 2014)"
    for ref in references().values():
        assert ref.short or ref.unit != "share" or 0 <= ref.value <= 1, ref.key


# ---------------------------------------------------------------------------------------------
# Verdict rules at their edges


@pytest.mark.parametrize(
    "low, high, expected",
    [
        (0.51, 0.60, SUPPORTED),
        (0.50, 0.60, INCONCLUSIVE),  # touching "> 50%" from above: 50% itself is not "more than half"
        (0.40, 0.50, CONTRADICTED),  # touching from below: no value in the CI is above 50%
        (0.45, 0.55, INCONCLUSIVE),
        (0.30, 0.40, CONTRADICTED),
    ],
)
def test_more_than(low, high, expected):
    assert claims.decide(low, high, 100, 0.5, ">", 20) == expected


@pytest.mark.parametrize(
    "low, high, expected",
    [
        (0.01, 0.03, SUPPORTED),  # ">= 1 in 100": a CI starting exactly at 1% is "common"
        (0.005, 0.01, INCONCLUSIVE),
        (0.002, 0.0099, CONTRADICTED),
    ],
)
def test_at_least(low, high, expected):
    assert claims.decide(low, high, 100, 0.01, ">=", 20) == expected


@pytest.mark.parametrize(
    "low, high, expected",
    [
        (0.05, 0.099, SUPPORTED),
        (0.05, 0.10, INCONCLUSIVE),  # touching "< 10%" from below
        (0.10, 0.20, CONTRADICTED),  # touching from above
        (0.12, 0.20, CONTRADICTED),
    ],
)
def test_less_than(low, high, expected):
    assert claims.decide(low, high, 100, 0.10, "<", 20) == expected


def test_too_few_courses_is_inconclusive_whatever_the_interval():
    assert claims.decide(0.9, 0.95, 19, 0.5, ">", 20) == INCONCLUSIVE
    assert claims.decide(0.9, 0.95, 20, 0.5, ">", 20) == SUPPORTED
    assert claims.decide(0.01, 0.02, 5, 0.5, ">", 20) == INCONCLUSIVE


def test_described_and_missing_interval():
    assert claims.decide(0.2, 0.3, 100, None, "described", 20) == DESCRIBED
    assert claims.decide(None, None, 100, 0.5, ">", 20) == INCONCLUSIVE


@pytest.mark.parametrize("n", [20, 2000, 2995, 3000, 30_000])
def test_one_sided_bound_is_clopper_pearson(n):
    assert claims.one_sided_upper(n) == pytest.approx(1 - 0.05 ** (1 / n), rel=1e-9)


def test_zero_events_the_one_sided_bound_decides():
    rare = claims.claim_spec("C11")  # < 1 in 1,000
    at_2000 = claims.with_rare_event_bound(rare, Estimate(0.0, 0.0, 0.0018, 2000, "Clopper-Pearson exact interval", 0))
    assert at_2000.ci_high == pytest.approx(0.0014967, abs=1e-6) and at_2000.method == claims.ONE_SIDED_METHOD
    assert claims.decide(at_2000.ci_low, at_2000.ci_high, 2000, 0.001, "<", 20) == INCONCLUSIVE
    needed = claims.courses_to_rule_out(0.001)
    assert needed == 2995
    assert claims.one_sided_upper(needed) < 0.001 <= claims.one_sided_upper(needed - 1)
    at_3000 = claims.with_rare_event_bound(rare, Estimate(0.0, 0.0, 0.0012, 3000, "Clopper-Pearson exact interval", 0))
    assert claims.decide(at_3000.ci_low, at_3000.ci_high, 3000, 0.001, "<", 20) == SUPPORTED
    common = claims.claim_spec("C07")  # not a rare-event claim: the two-sided interval stays
    same = Estimate(0.0, 0.0, 0.0018, 2000, "Clopper-Pearson exact interval", 0)
    assert claims.with_rare_event_bound(common, same) == same


@pytest.mark.parametrize("n, expected", [(2000, INCONCLUSIVE), (3100, SUPPORTED)])
def test_no_vision_disorder_on_a_cohort(n, expected):
    tables = {
        "courses": typed(
            "courses",
            {
                "patient_id": [f"Q{i}" for i in range(n)],
                "course_number": [1] * n,
                "sex": ["F"] * n,
                "age": [20.0] * n,
                "end_day": [150] * n,
            },
        ),
        "adverse_events": typed(
            "adverse_events",
            {
                "patient_id": ["Q0", "Q1"],
                "course_number": [1, 1],
                "term": ["dry lips", "dry lips"],
                "onset_day": [5, 5],
            },
        ),
    }
    result = claims.evaluate_claims(build_cohort(tables, source="rare"), ids=["C11"])[0]
    assert result.verdict == expected
    assert result.estimate == 0 and result.ci_low == 0
    assert result.ci_high == pytest.approx(1 - 0.05 ** (1 / n))
    assert "one-sided upper 95% bound" in result.explanation
    if expected == INCONCLUSIVE:
        assert "2,995 would be needed" in result.explanation


# ---------------------------------------------------------------------------------------------
# Each claim on the hand-made cohort


@pytest.mark.parametrize("claim_id", sorted(EXPECTED))
def test_share_claims_match_hand_counts(hand_results, claim_id):
    result = hand_results[claim_id]
    k, n = EXPECTED[claim_id]
    assert (result.numerator, result.n) == (k, n), result.explanation
    assert result.estimate == pytest.approx(k / n)
    method = "beta" if n < 30 or k in (0, n) else "wilson"
    low, high = proportion_confint(k, n, method=method)
    if result.method != claims.ONE_SIDED_METHOD:
        assert (result.ci_low, result.ci_high) == pytest.approx((low, high))


@pytest.mark.parametrize("claim_id", sorted(KAPLAN_MEIER))
def test_kaplan_meier_claims_match_hand_counts(hand_results, claim_id):
    result = hand_results[claim_id]
    assert result.estimate == pytest.approx(KAPLAN_MEIER[claim_id])
    assert "Kaplan-Meier" in result.method and result.ci_low < result.estimate < result.ci_high


def test_hand_verdicts(hand_results):
    verdicts = {claim_id: result.verdict for claim_id, result in hand_results.items()}
    assert verdicts == {
        "C01": INCONCLUSIVE,  # 25/40 = 62.5%, Wilson 47-76%; IGA 0/1 30/40 cannot show ">= 80%" either
        "C02": claims.DEPENDS,  # IGA 0/1 30/40 supported; 90% fewer lesions 25/40 inconclusive
        "C03": SUPPORTED,
        "C04": DESCRIBED,
        "C05": SUPPORTED,
        "C06": SUPPORTED,
        "C07": CONTRADICTED,  # 8/40 relapsed within a year, log-log CI 11-36%
        "C08": INCONCLUSIVE,  # 4/40 second courses, CI 4-24% straddles 20%
        "C09": INCONCLUSIVE,  # hair thinning 0/40 and myalgia 2/40 cannot show >= 1 in 100
        "C10": SUPPORTED,
        "C11": CONTRADICTED,
        "C12": CONTRADICTED,
        "C13": CONTRADICTED,
        "C14": CONTRADICTED,
        "C15": SUPPORTED,
        "C16": SUPPORTED,
        "C17": claims.DEPENDS,  # clear by month 6 30/40 supported; by month 4 none (first clear in month 5)
        "C18": DESCRIBED,
        "C19": DESCRIBED,
        "C20": NOT_TESTABLE,
    }


def test_claims_agree_with_the_areas_own_functions(hand, hand_results):
    from analysis.areas.clearance import compute as clearance
    from analysis.areas.labs import compute as labs
    from analysis.areas.relapse import compute as relapse
    from analysis.areas.side_effects import compute as side_effects

    same = {
        "C02": clearance.first_course_iga01_at_end(hand),
        "C03": clearance.improvement_by_month_2_3(hand),
        "C04": clearance.flare_share(hand),
        "C07": relapse.relapse_probability_at(hand, 1),
        "C06": relapse.relapse_free_at(hand, 2),
        "C08": relapse.second_course_probability_at(hand, 2),
        "C10": side_effects.resolved_within(hand, 90),
        "C11": side_effects.vision_incidence(hand),
        "C12": side_effects.mood_incidence(hand),
        "C13": labs.new_abnormal(hand, ("ALT", "AST")),
        "C14": labs.new_abnormal(hand, ("TC",)),
        "C17": clearance.cleared_by_month(hand, 6),
        "C18": labs.monitoring_compliance(hand),
        "C19": labs.pregnancy_test_compliance(hand),
    }
    for claim_id, estimate in same.items():
        result = hand_results[claim_id]
        assert (result.estimate, result.n) == (pytest.approx(estimate.estimate), estimate.n), claim_id
    assert hand_results["C01"].estimate == pytest.approx(clearance.share_reduction_at_end(hand).estimate)


def test_named_side_effects_are_judged_each(hand_results):
    parts = {part.label: part for part in hand_results["C09"].parts}
    counts = {label: (part.numerator, part.n) for label, part in parts.items()}
    assert counts == {
        "Dry lips and skin": (30, 40),
        "Chapped lips": (30, 40),
        "Nose dryness or mild nosebleeds": (5, 40),
        "Mild muscle or joint pain": (2, 40),
        "Temporary hair thinning": (0, 40),
    }
    assert parts["Chapped lips"].verdict == SUPPORTED
    assert parts["Temporary hair thinning"].verdict == INCONCLUSIVE
    assert hand_results["C09"].estimate == 0  # the least frequent item is shown
    assert parts["Chapped lips"].compare_value == pytest.approx(0.78)  # Rademaker 2010


def test_related_figures(hand_results):
    adults = {item.label: item for item in hand_results["C15"].related}
    assert adults["First courses of adolescents"].estimate.estimate == pytest.approx(0.5)
    difference = adults["Difference, adults minus adolescents"].estimate
    assert difference.estimate == pytest.approx(0.5) and difference.ci_low < 0.5 < difference.ci_high
    triglycerides = hand_results["C14"].related[0].estimate
    assert (triglycerides.numerator, triglycerides.n) == (20, 40)
    stopped = hand_results["C10"].related[0].estimate
    assert (stopped.numerator, stopped.n) == (5, 40)


def test_explanation_is_one_plain_sentence(hand_results):
    text = hand_results["C02"].readings[0].explanation
    assert text == (
        "75% of 40 first courses ended at IGA 0/1 (clear or almost clear) (95% CI 60-86%); "
        "the article says most (> 50%): supported."
    )
    assert hand_results["C01"].explanation.endswith("inconclusive, the interval includes the threshold.")
    assert hand_results["C04"].explanation.endswith("described, not tested.")
    assert hand_results["C20"].explanation.startswith("Not testable: needs a scar score")


def test_scar_claim_with_mapped_columns():
    tables = hand_tables()
    tables["courses"]["scar_score_baseline"] = [3.0] * N
    tables["courses"]["scar_score_end"] = [2.0 if i < 10 else 3.0 for i in range(N)]
    result = claims.evaluate_claims(build_cohort(tables, source="scars"), ids=["C20"])[0]
    assert (result.verdict, result.numerator, result.n) == (DESCRIBED, 10, 40)


# ---------------------------------------------------------------------------------------------
# Thresholds, definitions and what cannot be tested


def test_changing_a_threshold_changes_the_verdict(hand):
    default = claims.evaluate_claims(hand, ids=["C02"])[0].readings[0]
    stricter = claims.evaluate_claims(hand, {"claims.C02.threshold": "90%"}, ids=["C02"])[0].readings[0]
    assert (default.verdict, stricter.verdict) == (SUPPORTED, CONTRADICTED)
    assert stricter.threshold == 0.9 and "changed from the default > 50%" in stricter.explanation


def test_minimum_n_makes_a_verdict_inconclusive(hand):
    result = claims.evaluate_claims(hand, {"claims.min_n": 41}, ids=["C02"])[0].readings[0]
    assert result.verdict == INCONCLUSIVE and "only 40 first courses were counted" in result.explanation
    settings = {"claims.min_n": 41, "claims.C02.min_n": 40}
    assert claims.evaluate_claims(hand, settings, ids=["C02"])[0].readings[0].verdict == SUPPORTED


def test_definition_settings_reach_the_claim(hand):
    default = claims.evaluate_claims(hand, ids=["C01"])[0]
    iga = claims.evaluate_claims(hand, {"claims.C01.clearance.definition": "iga01"}, ids=["C01"])[0]
    shared = claims.evaluate_claims(hand, {"clearance.definition": "iga01"}, ids=["C01"])[0]
    assert default.estimate == pytest.approx(25 / 40) and iga.estimate == shared.estimate == pytest.approx(30 / 40)
    assert "IGA 0/1" in iga.definition and iga.readings[0].verdict == SUPPORTED
    lenient = claims.evaluate_claims(hand, {"clearance.reduction_percent": 50}, ids=["C01"])[0]
    assert lenient.estimate == 1.0


@pytest.mark.parametrize(
    "settings, message",
    [
        ({"claims.C99.threshold": 0.5}, "Unknown claim"),
        ({"claims.C01.threshold": "most"}, "must be a share"),
        ({"claims.C01.threshold": 1.5}, "between 0 and 1"),
        ({"claims.C04.threshold": 0.5}, "described"),
        ({"claims.min_n": 0}, "at least 1"),
        ({"clearance.missing": "sometimes"}, "missing-visit rule"),
    ],
)
def test_bad_settings_are_refused(hand, settings, message):
    with pytest.raises(ValueError, match=message):
        claims.evaluate_claims(hand, settings)


def test_missing_data_is_named():
    tables = hand_tables()
    bare = build_cohort({"courses": tables["courses"]}, source="courses only")
    results = {r.id: r for r in claims.evaluate_claims(bare)}
    reasons = {claim_id: r.reason for claim_id, r in results.items() if r.verdict == NOT_TESTABLE}
    assert reasons["C01"].startswith("no visit has a lesion count; visits with total_lesions")
    assert reasons["C02"] == "no visit has an IGA grade; visits with iga (0-4) during the course would make it testable"
    assert reasons["C03"].startswith("no visit has an inflammatory lesion count")
    assert reasons["C13"].startswith("the labs have no ALT or AST result; labs rows")
    assert reasons["C18"].startswith("the data has no lab results; a labs table")
    assert "no adverse events" in reasons["C09"] and "no adverse events" in reasons["C11"]
    assert results["C05"].verdict == SUPPORTED and results["C07"].verdict != NOT_TESTABLE  # courses alone suffice
    for result in results.values():
        for reading in result.readings:
            if reading.verdict == NOT_TESTABLE:
                assert reading.explanation == f"Not testable: {reading.reason}."
                assert "would make it testable" in reading.reason, reading.id  # what the data lacks, and what would do


def test_reasons_name_no_method_and_no_fractional_days():
    tables = hand_tables()
    tables["courses"]["followup_end_day"] = tables["courses"]["end_day"] + 200
    tables["courses"]["relapse_day"] = None
    tables["courses"]["retreat_day"] = None
    results = {r.id: r for r in claims.evaluate_claims(build_cohort(tables, source="short follow-up"))}
    for result in results.values():
        text = result.reason or result.explanation
        assert "Kaplan-Meier, log-log" not in result.reason and not re.search(r"\d\.\d+ days", text), text
    assert results["C06"].verdict == NOT_TESTABLE
    reason = results["C06"].reason
    assert reason.startswith("the follow-up ends 6.6 months after the end of the course, before 2 years, and 100% (")
    assert reason.endswith(
        ") by then does not settle > 50%, since the share can still fall; follow-up of at least 2 years after the "
        "end of the course (courses.followup_end_day) in at least 20 courses would make it testable"
    )


def test_a_failing_area_function_is_shown_logged_and_does_not_break_the_rest(hand, monkeypatch, caplog):
    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr("analysis.areas.relapse.compute.second_course_curve", broken)
    with caplog.at_level(logging.ERROR, logger="analysis.areas.claims.compute"):
        results = {r.id: r for r in claims.evaluate_claims(hand)}
    assert results["C08"].verdict == NOT_TESTABLE
    assert results["C08"].reason == "the calculation failed (RuntimeError: boom)"
    assert "claim C08 could not be evaluated" in caplog.text
    assert results["C07"].verdict != NOT_TESTABLE and len(results) == 20


# ---------------------------------------------------------------------------------------------
# Sensitivity


def test_sensitivity_tries_every_definition(hand):
    table = claims.sensitivity(hand, "C01")
    assert list(table["id"].drop_duplicates()) == ["C01", "C01b"]  # each reading tried on its own
    table = table[table["id"] == "C01"]
    assert len(table) == 9 and table["current"].sum() == 1
    current = table[table["current"]].iloc[0]
    assert current["variant"] == "clear = at least 80% fewer lesions; missed visits: observed cases only"
    assert current["verdict"] == INCONCLUSIVE
    assert set(table["verdict"]) >= {INCONCLUSIVE, SUPPORTED}  # IGA 0/1 (30/40) is supported
    assert claims.fragile_claims(table) == ["C01"]


def test_sensitivity_of_every_claim(hand):
    table = claims.sensitivity(hand)
    readings = [i for claim_id in IDS for i in ([claim_id, f"{claim_id}b"] if claim_id in READ_TWICE else [claim_id])]
    assert list(table["id"].drop_duplicates()) == readings
    assert (table.groupby("id")["current"].sum() == 1).all()
    assert set(table.loc[table["id"] == "C03", "variant"]) == {"as defined (no alternative)"}
    assert len(table[table["id"] == "C06"]) == 2 and len(table[table["id"] == "C17"]) == 3


def test_sensitivity_follows_the_chosen_settings(hand):
    table = claims.sensitivity(hand, "C02", {"clearance.missing": "nri"})
    assert table[table["current"]].iloc[0]["variant"].endswith("counted as not clear")


# ---------------------------------------------------------------------------------------------
# JSON, tables, groups, the chart


def test_json_keys_are_pinned(hand):
    rows = claims.summary_section(hand, SummaryOptions())
    assert [row["id"] for row in rows] == IDS
    assert claims.JSON_KEYS == (
        "id",
        "quote",
        "verdict",
        "estimate",
        "ci_low",
        "ci_high",
        "n",
        "threshold",
        "direction",
        "method",
        "explanation",
        "label",
        "definition",
        "literature",
        "reason",
        "page",
        "min_n",
        "related",
        "parts",
        "verdict_rule",
        "readings",
    )
    for row in rows:
        assert tuple(row) == claims.JSON_KEYS
        assert [reading["reading"] for reading in row["readings"]] == (["a", "b"] if row["id"] in READ_TWICE else ["a"])
        for reading in row["readings"]:
            assert tuple(reading) == claims.READING_KEYS and reading["verdict"] in claims.VERDICTS
        assert row["verdict"] in claims.VERDICTS
        for item in row["related"]:
            assert tuple(item) == ("label", "estimate", "ci_low", "ci_high", "n", "text")
        for part in row["parts"]:
            assert tuple(part) == claims.JSON_KEYS
    json.dumps(rows, allow_nan=False)


def test_json_by_group(hand):
    rows = claims.summary_section(hand, SummaryOptions(group_by="sex"))
    for row in rows:
        assert [g["group"] for g in row["by_group"]] == ["F", "M"]
        for group in row["by_group"]:
            assert tuple(group) == ("group_by", "group", *claims.GROUP_KEYS)
    adults_only = next(r for r in rows if r["id"] == "C02")["by_group"][0]  # F = courses 0-19, all clear
    assert (adults_only["estimate"], adults_only["n"]) == (1.0, 20)


def test_scorecard_table_has_a_row_per_claim_and_item(hand_results):
    table = claims.scorecard_table(list(hand_results.values()))
    assert len(table) == 20 + 5 + len(READ_TWICE)
    assert list(table.loc[table["id"] == "C01", "reading"]) == ["a", "b"]
    assert list(table.loc[table["id"] == "C09", "item"]) == [
        "",
        "Dry lips and skin",
        "Chapped lips",
        "Nose dryness or mild nosebleeds",
        "Mild muscle or joint pain",
        "Temporary hair thinning",
    ]


def test_chart_shows_every_claim_against_its_threshold(hand_results):
    fig = claims_figures.scorecard_figure(list(hand_results.values()), "hand-made")
    labels = {label for trace in fig.data for label in (() if trace.y is None else list(trace.y))}
    assert all(any(label.startswith(claim_id) for label in labels) for claim_id in IDS)
    names = {trace.name for trace in fig.data}
    assert {
        "Supported",
        "Contradicted",
        "Inconclusive",
        "Described",
        "Article's threshold",
        "Published figure",
    } <= names
    assert fig.layout.xaxis2.type == "log"  # rare-event claims share a log scale
    rare = [t for t in fig.data if t.xaxis == "x2" and t.mode == "markers" and t.name == "Contradicted"]
    assert rare and min(rare[0].x) > 0


def test_percent_and_threshold_wording():
    assert [claims.percent(v) for v in (0.62, 0.027, 0.0075, 0.00012, 0)] == ["62%", "2.7%", "0.75%", "0.012%", "0%"]
    assert [claims.threshold_text(v) for v in (0.5, 0.01, 0.001, 0.0001)] == [
        "50%",
        "1 in 100",
        "1 in 1,000",
        "1 in 10,000",
    ]
    assert claims.parse_share("1/1,000", "k") == 0.001 and claims.parse_share("60%", "k") == 0.6


# ---------------------------------------------------------------------------------------------
# The demo cohort: verdicts follow from its generating parameters


@pytest.fixture(scope="module")
def demo():
    from analysis.cohort.loading import DEMO_DIR, load_demo

    if not (DEMO_DIR / "courses.csv").exists():
        pytest.skip("the bundled demo cohort (data/demo) is not generated")
    return load_demo().cohort


@pytest.fixture(scope="module")
def demo_results(demo):
    return {result.id: result for result in claims.evaluate_claims(demo)}


def test_demo_has_no_untestable_claim_but_scars(demo_results):
    untestable = {claim_id: r.reason for claim_id, r in demo_results.items() if r.verdict == NOT_TESTABLE}
    assert untestable.keys() == {"C20"}, untestable


def test_demo_verdicts_follow_the_generating_parameters(demo_results):
    from analysis.demo import PARAMETERS

    verdict = {claim_id: r.verdict for claim_id, r in demo_results.items()}
    # Lesions fall ~93% (median) by the end and 87% of completed first courses end at IGA 0/1.
    assert verdict["C01"] == verdict["C02"] == verdict["C17"] == SUPPORTED
    # Liver enzymes rise in 11% (ALT, AST), cholesterol in 31% of normal-baseline courses: not "rare".
    assert verdict["C13"] == verdict["C14"] == CONTRADICTED
    assert (
        demo_results["C14"].ci_low <= PARAMETERS["new_abnormal_tc"] + 0.03
        and demo_results["C14"].ci_high >= PARAMETERS["new_abnormal_tc"] - 0.03
    )
    assert demo_results["C13"].estimate >= PARAMETERS["new_abnormal_alt"] - 0.02
    # Cheilitis ~78% and every named effect at least "common".
    assert verdict["C09"] == SUPPORTED
    cheilitis = next(p for p in demo_results["C09"].parts if p.label == "Chapped lips")
    assert abs(cheilitis.estimate - 0.78) < 0.08
    # Vision 0.6%, mood 0.8% plus PHQ-9 rises: far above "rare" and "very rare".
    assert verdict["C11"] == verdict["C12"] == CONTRADICTED
    # Relapse within a year ~21%: not "minimal"; most stay relapse-free at 2 years.
    assert verdict["C07"] == CONTRADICTED and verdict["C06"] == SUPPORTED
    assert abs(demo_results["C07"].estimate - PARAMETERS["relapse_1y"]) < 0.05
    # A third flare first (Demircay 2008): described, near 32%.
    assert verdict["C04"] == DESCRIBED and abs(demo_results["C04"].estimate - PARAMETERS["flare_share"]) < 0.05
    assert verdict["C18"] == verdict["C19"] == DESCRIBED


def test_demo_claims_follow_filters(demo):
    women = demo.subset(demo.courses.loc[demo.courses["sex"] == "F", "course_idx"])
    result = claims.evaluate_claims(women, ids=["C13"])[0]
    assert result.n < claims.evaluate_claims(demo, ids=["C13"])[0].n
    assert result.verdict == CONTRADICTED


# ---------------------------------------------------------------------------------------------
# Bounds: follow-up ends before the claim's time point, the quantity only rises or only falls


def bounded(estimate: Estimate, rising: bool) -> claims.Measured:
    bound = claims.Bound(rising, "month 5", "month 6", "visits up to month 6 would make it testable")
    return claims.Measured(estimate, "had reached IGA 0/1 by month 5", "a definition", bound=bound)


@pytest.mark.parametrize(
    "claim_id, low, high, rising, expected",
    [
        ("C17", 0.51, 0.60, True, SUPPORTED),  # a rising share already above "> 50%"
        ("C17", 0.50, 0.60, True, NOT_TESTABLE),  # the bound exactly at the threshold settles nothing
        ("C17", 0.30, 0.45, True, NOT_TESTABLE),  # below now, may still rise above
        ("C06", 0.40, 0.49, False, CONTRADICTED),  # a falling share already below "> 50%"
        ("C06", 0.40, 0.50, False, CONTRADICTED),  # touching from below: no value it can still take is above 50%
        ("C06", 0.55, 0.70, False, NOT_TESTABLE),  # above now, may still fall below
        ("C07", 0.10, 0.20, True, CONTRADICTED),  # a rising share at "< 10%" already: it cannot fall back
        ("C07", 0.05, 0.09, True, NOT_TESTABLE),
    ],
)
def test_the_last_observed_point_settles_a_monotone_claim_only_when_it_can(claim_id, low, high, rising, expected):
    spec = claims.claim_spec(claim_id)
    estimate = Estimate((low + high) / 2, low, high, 100, "Kaplan-Meier, log-log 95% CI", None)
    result = claims.judge(spec, bounded(estimate, rising), spec.threshold, 20)
    assert result.verdict == expected
    if expected == NOT_TESTABLE:
        assert result.reason.startswith("the follow-up ends at month 5, before month 6, and ")
        assert "does not settle" in result.reason and result.reason.endswith("would make it testable")
    else:
        assert f"{expected} already by month 5, the last month with follow-up: " in result.explanation
        assert (result.ci_low, result.ci_high) == (low, high)  # the interval shown is the one measured
        assert result.method.endswith(("a lower bound for month 6", "an upper bound for month 6"))


def test_a_bound_on_too_few_courses_settles_nothing():
    spec = claims.claim_spec("C17")
    result = claims.judge(spec, bounded(Estimate(0.9, 0.8, 0.95, 12, "Kaplan-Meier", None), True), 0.5, 20)
    assert result.verdict == NOT_TESTABLE and "only 12 courses were followed (at least 20 are needed)" in result.reason


def visits_to_month_5() -> dict[str, pd.DataFrame]:
    """The hand-made cohort with every course ending on day 149 (month 5), so no visit reaches month 6."""
    tables = hand_tables()
    tables["visits"] = tables["visits"].assign(day=tables["visits"]["day"].clip(upper=149))
    return tables


def test_cleared_by_month_6_is_supported_already_by_month_5():
    result = claims.evaluate_claims(build_cohort(visits_to_month_5(), source="month 5"), ids=["C17"])[0].readings[0]
    assert result.verdict == SUPPORTED
    assert result.estimate == pytest.approx(30 / 40)
    assert "supported already by month 5, the last month with follow-up: 75% (" in result.explanation
    assert result.method.endswith("at month 5, the last month with follow-up, a lower bound for month 6")


@pytest.mark.parametrize("extra_days, bounded_", [(730, True), (731, False)])
def test_follow_up_ending_one_day_before_the_time_point(extra_days, bounded_):
    """Two years are 730.5 days: follow-up to day 730 gives a bound, to day 731 the estimate itself."""
    tables = hand_tables()
    tables["courses"]["followup_end_day"] = tables["courses"]["end_day"] + extra_days
    tables["courses"]["relapse_day"] = [e + 100 if i < 28 else None for i, e in enumerate(tables["courses"]["end_day"])]
    tables["courses"]["retreat_day"] = None
    result = claims.evaluate_claims(build_cohort(tables, source="follow-up"), ids=["C06"])[0].readings[0]
    assert result.estimate == pytest.approx(12 / 40) and result.verdict == CONTRADICTED  # relapse-free only falls
    if bounded_:
        assert "contradicted already by 730 days (just under 2 years), the longest follow-up" in result.explanation
    else:
        assert "already" not in result.explanation and "bound" not in result.method


# ---------------------------------------------------------------------------------------------
# Readings: the same words read more than one honest way


def test_c01_is_read_two_ways_on_the_demo(demo_results):
    c01 = demo_results["C01"]
    first, second = c01.readings
    assert first.reads_as == "most courses end with at least 80% fewer lesions" and first.verdict == SUPPORTED
    assert second.reads_as == "80-100% of courses end clear or almost clear (IGA 0/1)"
    assert (second.direction, second.threshold) == (">=", 0.8) and "IGA 0/1" in second.definition
    assert 0.70 < first.estimate < 0.80 and 0.80 < second.estimate < 0.88  # 74% and 83% on the demo
    assert second.verdict == SUPPORTED
    assert (c01.verdict, c01.verdict_rule) == (SUPPORTED, "supported under every reading")
    assert c01.explanation.startswith("Supported under every reading. Read as most courses end with at least 80%")


def end_visits(reduced: int, clear: int) -> dict[str, pd.DataFrame]:
    """The hand-made cohort with the last visit of courses 0..reduced-1 at 90% fewer lesions and of
    courses 0..clear-1 at IGA 1; the others 50% fewer and IGA 3."""
    tables = hand_tables()
    visits = tables["visits"]
    last = visits["day"].isin([149, 199])
    index = visits["patient_id"].str[1:].astype(int)
    visits.loc[last, ["inflammatory_lesions", "noninflammatory_lesions"]] = 10
    visits.loc[last & (index < reduced), ["inflammatory_lesions", "noninflammatory_lesions"]] = 2
    visits.loc[last, "iga"] = 3
    visits.loc[last & (index < clear), "iga"] = 1
    return tables


@pytest.mark.parametrize(
    "reduced, clear, first, second",
    [
        (36, 10, SUPPORTED, CONTRADICTED),  # lesions fall 80% in most, few end clear
        (10, 40, CONTRADICTED, SUPPORTED),  # every course ends at IGA 1, few lose 80% of their lesions
    ],
)
def test_c01_readings_disagree_on_a_hand_cohort(reduced, clear, first, second):
    result = claims.evaluate_claims(build_cohort(end_visits(reduced, clear), source="readings"), ids=["C01"])[0]
    assert [r.verdict for r in result.readings] == [first, second]
    assert [(r.numerator, r.n) for r in result.readings] == [(reduced, N), (clear, N)]
    assert result.verdict == claims.DEPENDS
    assert result.verdict_rule == (
        f"depends on the reading: {first} read as most courses end with at least 80% fewer lesions; "
        f"{second} read as 80-100% of courses end clear or almost clear (IGA 0/1)"
    )
    row = result.as_dict()
    assert row["verdict"] == claims.DEPENDS and [r["verdict"] for r in row["readings"]] == [first, second]


def test_a_reading_changes_only_the_fields_it_names():
    first, second = claims.claim_spec("C01").all_readings
    assert second.id == "C01b" and second.claim_id == "C01" and second.quote == first.quote
    assert second.measure == first.measure and dict(second.defaults) == {"clearance.definition": "iga01"}
    assert claims.claim_spec("C02b").compare is None  # a published figure of another quantity is not inherited
    assert claims.claim_spec("C17b").param_dict == {"month": 4}


def test_a_reading_has_its_own_threshold_setting(hand):
    result = claims.evaluate_claims(hand, {"claims.C01b.threshold": 0.5}, ids=["C01"])[0]
    assert result.readings[1].threshold == 0.5 and result.readings[1].verdict == SUPPORTED  # 30/40 at IGA 0/1
    assert result.readings[0].threshold == 0.5
