"""Overview: the article's claims held against the data, then the cohort at a glance."""

import streamlit as st
from streamlit.errors import StreamlitAPIException

from analysis.areas.claims import compute as claims
from analysis.areas.claims.sections import SECTIONS as CLAIMS_SECTIONS
from analysis.areas.clearance import compute as clearance
from analysis.areas.overview import compute as overview
from analysis.areas.overview.sections import SECTIONS as COHORT_SECTIONS
from ui.claim_sets import active_claim_set, claim_set_panel, with_claim_set
from ui.kept import kept
from ui.kept_settings import Setting, follow_address, setting_widget, value
from ui.layout import CARD_KEY, HEADER_KEY, SCORECARD_COLUMNS
from ui.page import csv_download, opened, page_header, require_data, show_table
from ui.presenter import (
    SUPPRESSED,
    any_small,
    presentable_estimates,
    presenter_on,
    shown_count,
    shown_share,
    shown_text,
    suppression_threshold,
    withheld,
    withheld_rows,
)
from ui.report_download import report_download
from ui.sections import page_audience, show_sections
from ui.slides import remember_claim_settings
from ui.verdicts import verdict_badge

OWN_DEFINITION = "own"
PAGE_NAMES = {
    "views/clearance.py": "Clearance",
    "views/side_effects.py": "Side effects",
    "views/relapse.py": "Relapse",
    "views/labs.py": "Labs",
    "views/data.py": "Data",
    "views/overview.py": "Below",
}


# ---------------------------------------------------------------------------------------------
# Definitions and thresholds: kept in the session and the address (`ui.kept_settings`), their widgets
# drawn only while their expander is open; only changed values become settings

DEFINITIONS = {OWN_DEFINITION: "Each claim's own definition", **clearance.DEFINITIONS}
DEFINITION = Setting(
    "claims_definition",
    "What counts as clear",
    OWN_DEFINITION,
    choices=DEFINITIONS,
    help="Used by every reading about clearance (C01, C02, C15, C16, C17). Each reading's own: C01 is read both as "
    "at least 80% fewer lesions and as IGA 0/1, C02 as IGA 0/1 and as at least 90% fewer lesions, the others as "
    "IGA 0/1. Choosing one here applies it to all of them. IGA = Investigator's Global Assessment.",
)
MISSING = Setting(
    "claims_missing",
    "Missed visits",
    "observed",
    choices=clearance.MISSING_RULES,
    help="How courses without an assessment near the end count.",
)
REDUCTION = Setting(
    "claims_reduction",
    "Lesion reduction counted as clear (%)",
    80,
    low=10,
    high=100,
    step=5,
    help="The article speaks of 80-100% clearance (C01).",
)
RETREATMENT = Setting(
    "claims_retreatment",
    "A further course counts as relapse",
    True,
    help="When off, a course followed by another without a recorded relapse is censored instead (C06, C07).",
)
TREATMENT_EMERGENT = Setting(
    "claims_treatment_emergent",
    "Only side effects that began on treatment",
    True,
    help="From the first dose to 30 days after the last (C09-C12). When off, every recorded side effect counts.",
)
MIN_N = Setting(
    "claims_min_n",
    "Fewest courses for a verdict",
    20,
    low=1,
    high=100_000,
    step=5,
    help="With fewer courses counted, a claim is inconclusive.",
)
# Each definition with the analysis setting it sets when changed, and that setting's type.
APPLIED_AS = (
    (DEFINITION, "clearance.definition", str),
    (MISSING, "clearance.missing", str),
    (REDUCTION, "clearance.reduction_percent", float),
    (RETREATMENT, "relapse.retreatment_counts_as_relapse", bool),
    (TREATMENT_EMERGENT, "adverse_events.treatment_emergent", bool),
    (MIN_N, "claims.min_n", int),
)
DEFINITION_SETTINGS = tuple(setting for setting, _, _ in APPLIED_AS)


def threshold_settings() -> dict[str, Setting]:
    """One threshold (in %) per tested reading of the claim set in use (C01, C01b, ...), by reading."""
    readings = active_claim_set().reading_specs().values()
    settings = {}
    for spec in (spec for spec in readings if spec.tested):
        default = round(spec.threshold * 100, 6)
        settings[spec.id] = Setting(
            f"claims_{spec.id}_threshold",
            f"{spec.id} {spec.label} ({claims.DIRECTIONS[spec.direction]} %)",
            float(default),
            low=0.0,
            high=100.0,
            step=0.01 if default <= 1 else 5.0,
            format="%g",
            help=f'The article says "{spec.says}"; default {claims.rule_text(spec.direction, spec.threshold)}.',
        )
    return settings


def analysis_settings(thresholds: dict[str, Setting]) -> dict:
    """The settings the analysis reads: only the definitions and thresholds changed from their defaults."""
    settings = {}
    for setting, name, convert in APPLIED_AS:
        if setting.changed(value(setting)):
            settings[name] = convert(value(setting))
    for reading, setting in thresholds.items():
        if setting.changed(value(setting)):
            settings[f"claims.{reading}.threshold"] = value(setting) / 100
    return settings


def settings_panel(thresholds: dict[str, Setting]) -> None:
    """The definitions and thresholds, drawn only while the expander is open."""
    box = opened("Change thresholds and definitions", "claims_settings")
    if box is None:
        return
    with box:
        st.caption(
            'The article gives words ("most", "rare"); the defaults turn them into numbers. Change them to see whether a '
            "verdict holds. The link in the address bar keeps your choices."
        )
        for row in (DEFINITION_SETTINGS[:3], DEFINITION_SETTINGS[3:]):
            for column, setting in zip(st.columns(3), row):
                setting_widget(setting, column)
        st.markdown("**Thresholds** (% of courses, side effects or months)")
        columns = st.columns(4)
        for index, setting in enumerate(thresholds.values()):
            setting_widget(setting, columns[index % 4])


# ---------------------------------------------------------------------------------------------
# Cached evaluation: keyed on the dataset, the filters and the settings


def scorecard(key: tuple, settings: tuple, cohort) -> list[claims.ClaimResult]:
    """The claims' results, kept with the (filtered) cohort for these settings (`ui.kept`)."""
    return kept(
        cohort,
        "claims.scorecard",
        (key, settings),
        lambda: claims.evaluate_claims(cohort, dict(settings)),
        spinner="Checking the article's claims ...",
    )


def sensitivity(key: tuple, settings: tuple, cohort):
    return kept(
        cohort,
        "claims.sensitivity",
        (key, settings),
        lambda: claims.sensitivity(cohort, None, dict(settings)),
        keep=4,
        spinner="Trying every definition ...",
    )


# ---------------------------------------------------------------------------------------------
# Rendering


def estimate_text(result: claims.ClaimResult) -> str:
    """The estimate and CI; for a claim read several ways, one line per reading."""
    if result.several_readings:
        return "  \n".join(f"({r.reading}) {estimate_text(r)}" for r in result.readings)
    if result.estimate is None:
        return "–"
    counted = f"n = {shown_count(result.n)} {result.unit}"
    if claim_withheld(result):
        return f"**{SUPPRESSED}** (a count under {suppression_threshold()})  \n{counted}"
    bound = "upper bound " if result.method == claims.ONE_SIDED_METHOD else ""
    lowest = f" lowest of {len(result.parts)}" if result.parts else ""
    return (
        f"**{claims.percent(result.estimate)}**{lowest} ({bound}{claims.interval_text(result.ci_low, result.ci_high)})  \n"
        f"{counted}"
    )


def rule_cell(result: claims.ClaimResult) -> str:
    def rule(r: claims.ClaimResult) -> str:
        return "no figure" if r.direction == "described" else plain(claims.rule_text(r.direction, r.threshold))

    if result.several_readings:
        return "  \n".join(f"({r.reading}) {rule(r)}" for r in result.readings)
    return rule(result)


def readings_text(result: claims.ClaimResult) -> str:
    """Each reading of a claim read several ways, with its own verdict; the claim's verdict is the rule."""
    lines = [
        f"{verdict_badge(r.verdict)} ({r.reading}) read as *{plain(one_line(r.reads_as))}*" for r in result.readings
    ]
    return f"{plain(result.verdict_rule.capitalize())}:  \n" + "  \n".join(lines)


def claim_withheld(result: claims.ClaimResult) -> bool:
    """In presenter mode, whether the claim's share (or one of its parts' or readings') would give a small count back."""
    items = (result, *result.parts, *result.readings, *(p for r in result.readings for p in r.parts))
    return any(withheld(r.numerator, r.n) for r in items if r.estimate is not None or r.n)


def explanation_text(result: claims.ClaimResult) -> str:
    """The claim's explanation; in presenter mode withheld when it rests on a small count, since it
    quotes the share and its counts."""
    if claim_withheld(result):
        return f"Details {SUPPRESSED} in presenter mode: a count under {suppression_threshold()}."
    return shown_text(result.explanation)


def detail_link(page: str) -> None:
    try:
        st.page_link(page, label=PAGE_NAMES.get(page, "Details"), icon=":material/arrow_forward:")
    except StreamlitAPIException:  # the area's page is not part of this app (yet)
        st.caption("Details page not available")


def plain(text: str) -> str:
    """Text shown as markdown without '>' or '<' turning into quotes or tags."""
    return text.replace(">", "\\>").replace("<", "\\<")


def one_line(text: str) -> str:
    """Text kept on one line: a blank line in a claim's words would start another part of its row."""
    return " ".join(text.split())


def small(text: str) -> str:
    """Text shown as a caption (smaller, grey) inside a line of markdown; in presenter mode grey
    only, at the size of the text around it, as captions are there."""
    grey = ":gray[" + text.replace("[", "\\[").replace("]", "\\]") + "]"
    return grey if presenter_on() else f":small[{grey}]"


def row_help(result: claims.ClaimResult) -> str:
    """The row's tooltip: the explanation, what was counted and the published figure in full."""
    parts = [plain(explanation_text(result)), f"**What was counted:** {plain(result.definition)}"]
    if result.literature:
        parts.append(f"**Published figure:** {plain(result.literature)}")
    return "\n\n".join(parts)


def claim_row(result: claims.ClaimResult, explain: bool) -> None:
    """One claim: a row of the scorecard, or on a phone a card whose parts are each labelled (`ui.layout`).

    The row's parts are the paragraphs of one block of markdown (verdict, estimate, threshold,
    published figure, then the words with the tooltip) placed in the scorecard's columns by the
    layout rules, and the link to the area's page beside them."""
    words = [f"**{result.id}** *“{plain(one_line(result.quote))}”*"]
    if result.several_readings:
        words.append(readings_text(result))
    if explain or result.verdict == claims.NOT_TESTABLE:
        words.append(small(plain(one_line(explanation_text(result)))))
    keys = active_claim_set().reading_specs()[result.id].literature
    parts = (
        verdict_badge(result.verdict),
        estimate_text(result),
        rule_cell(result),
        small(plain(one_line(claims.literature_short(keys) or "No published figure"))),
        "  \n".join(words),
    )
    with st.container(key=f"{CARD_KEY}{result.id}"):
        st.markdown("\n\n".join(parts), help=row_help(result))
        detail_link(result.page)


def header_row() -> None:
    """The scorecard's column names; on a phone each card names its own parts instead."""
    with st.container(key=HEADER_KEY):
        st.markdown("\n\n".join(f"**{label}**" for label in SCORECARD_COLUMNS))


def tally(results: list[claims.ClaimResult]) -> str:
    counts = claims.verdict_counts(results)
    return " ".join(verdict_badge(verdict, f"{count} {verdict}") for verdict, count in counts.items() if count)


def render_scorecard(results: list[claims.ClaimResult], view) -> None:
    st.subheader("The article's claims, tested on these courses")
    st.markdown(
        f"{tally(results)} · {len(results)} claims {plain(claims.set_description(active_claim_set()))}. "
        "Each verdict compares the 95% confidence interval with the article's words turned into a number; "
        "the claims follow the sidebar filters."
    )
    explain = st.toggle("Show the explanation under each claim", key="claims_explain", bind="query-params")
    header_row()
    for result in results:
        claim_row(result, explain)
    show_sections(CLAIMS_SECTIONS, view.filtered, results, page_audience())


@st.fragment
def sensitivity_section(view, settings: dict) -> None:
    st.caption(
        "Each claim measured again under every alternative definition (what counts as clear, missed visits, relapse, "
        "side-effect window, lab baseline). A verdict that changes hangs on the definition."
    )
    if not st.toggle("Try every definition", key="claims_sensitivity", bind="query-params"):
        return
    table = sensitivity(view.key("visits"), tuple(sorted(settings.items())), view.filtered)
    hidden = withheld_rows(table)
    fragile = claims.fragile_claims(table)
    if fragile:
        st.warning(f"The verdict depends on the definition for: {', '.join(fragile)}.")
    else:
        st.success("No verdict changes with the definition.")
    shown = table.assign(
        verdict=table["verdict"].str.capitalize(),
        in_use=table["current"].map({True: "in use", False: ""}),
        **{column: (table[column] * 100).round(1) for column in ("estimate", "ci_low", "ci_high")},
    )
    columns = ["id", "variant", "in_use", "verdict", "estimate", "ci_low", "ci_high", "n", "depends_on_definition"]
    show_table(
        presentable_estimates(shown[columns], hidden),
        hide_index=True,
        width="stretch",
        column_config={
            "id": "Claim",
            "variant": "Definition",
            "in_use": "Scorecard",
            "verdict": "Verdict",
            "estimate": st.column_config.NumberColumn("Estimate (%)", format="%.1f"),
            "ci_low": st.column_config.NumberColumn("95% CI low (%)", format="%.1f"),
            "ci_high": st.column_config.NumberColumn("95% CI high (%)", format="%.1f"),
            "n": st.column_config.NumberColumn("n", format="%d"),
            "depends_on_definition": "Verdict changes",
        },
    )
    csv_download(presentable_estimates(table, hidden), "claims_sensitivity.csv", key="claims_sensitivity_csv")


def claims_section(view) -> dict | None:
    """The scorecard; returns the settings it used (None when they cannot be used)."""
    board = st.container()
    claim_set_panel()
    thresholds = threshold_settings()
    follow_address((*DEFINITION_SETTINGS, *thresholds.values()))
    settings_panel(thresholds)
    settings = with_claim_set(analysis_settings(thresholds))
    try:
        results = scorecard(view.key("visits"), tuple(sorted(settings.items())), view.filtered)
    except ValueError as error:  # a setting out of range: say which
        board.error(f"These settings cannot be used: {error}")
        return None
    remember_claim_settings(settings)
    with board:
        render_scorecard(results, view)
    with st.expander("Does a verdict hang on a definition? (sensitivity)"):
        sensitivity_section(view, settings)
    scorecard_rows = claims.scorecard_table(results)
    csv_download(
        presentable_estimates(scorecard_rows, withheld_rows(scorecard_rows)),
        "claims_scorecard.csv",
        label="Download the scorecard (CSV)",
        key="claims_scorecard_csv",
    )
    return settings


def female_text(share: float | None, cohort) -> str:
    """The share of women among courses of known sex, withheld in presenter mode when it gives a small count back."""
    if share is None:
        return "–"
    sex = cohort.courses["sex"]
    return shown_share(f"{share:.0%}", int((sex == "F").sum()), int(sex.notna().sum()))


def cohort_section(view) -> None:
    cohort = view.filtered
    st.subheader("The courses")
    facts = overview.profile(cohort)
    columns = st.columns(5)
    columns[0].metric("Courses", shown_count(facts["courses"]))
    columns[1].metric("Patients", shown_count(facts["patients"]))
    columns[2].metric("Female", female_text(facts["female_share"], cohort))
    few = any_small(facts["courses"])  # a median of a handful of courses is one course's value
    columns[3].metric(
        "Median course length",
        "–"
        if facts["median_duration_days"] is None
        else SUPPRESSED
        if few
        else f"{facts['median_duration_days']:.0f} days",
    )
    columns[4].metric(
        "Median cumulative dose",
        "–"
        if facts["median_cumulative_dose_mg_per_kg"] is None
        else SUPPRESSED
        if few
        else f"{facts['median_cumulative_dose_mg_per_kg']:.0f} mg/kg",
    )

    show_sections(COHORT_SECTIONS, cohort, None, page_audience())


view = page_header(
    "Overview",
    "The article's claims held against the data, then who was treated, with how much, for how long, "
    "and how complete the data is.",
)
if require_data(view):
    settings = claims_section(view)
    st.divider()
    cohort_section(view)
    st.divider()
    report_download(view, settings)
