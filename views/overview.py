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
from ui.layout import CARD_KEY, HEADER_KEY, SCORECARD_COLUMNS
from ui.page import csv_download, page_header, require_data, show_table
from ui.presenter import (
    SUPPRESSED,
    any_small,
    presentable_estimates,
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
# Definitions and thresholds (widgets bound to the URL; only changed values become settings)


def definition_widgets() -> dict:
    settings = {}
    top = st.columns(3)
    definitions = {OWN_DEFINITION: "Each claim's own definition", **clearance.DEFINITIONS}
    definition = top[0].selectbox(
        "What counts as clear",
        list(definitions),
        format_func=definitions.get,
        key="claims_definition",
        bind="query-params",
        help="Used by every reading about clearance (C01, C02, C15, C16, C17). Each reading's own: C01 is read both as "
        "at least 80% fewer lesions and as IGA 0/1, C02 as IGA 0/1 and as at least 90% fewer lesions, the others as "
        "IGA 0/1. Choosing one here applies it to all of them. IGA = Investigator's Global Assessment.",
    )
    if definition != OWN_DEFINITION:
        settings["clearance.definition"] = definition
    missing = top[1].selectbox(
        "Missed visits",
        list(clearance.MISSING_RULES),
        format_func=clearance.MISSING_RULES.get,
        key="claims_missing",
        bind="query-params",
        help="How courses without an assessment near the end count.",
    )
    if missing != "observed":
        settings["clearance.missing"] = missing
    reduction = top[2].number_input(
        "Lesion reduction counted as clear (%)",
        min_value=10,
        max_value=100,
        value=80,
        step=5,
        key="claims_reduction",
        bind="query-params",
        help="The article speaks of 80-100% clearance (C01).",
    )
    if reduction != 80:
        settings["clearance.reduction_percent"] = float(reduction)
    bottom = st.columns(3)
    if not bottom[0].toggle(
        "A further course counts as relapse",
        value=True,
        key="claims_retreatment",
        bind="query-params",
        help="When off, a course followed by another without a recorded relapse is censored instead (C06, C07).",
    ):
        settings["relapse.retreatment_counts_as_relapse"] = False
    if not bottom[1].toggle(
        "Only side effects that began on treatment",
        value=True,
        key="claims_treatment_emergent",
        bind="query-params",
        help="From the first dose to 30 days after the last (C09-C12). When off, every recorded side effect counts.",
    ):
        settings["adverse_events.treatment_emergent"] = False
    min_n = bottom[2].number_input(
        "Fewest courses for a verdict",
        min_value=1,
        max_value=100_000,
        value=20,
        step=5,
        key="claims_min_n",
        bind="query-params",
        help="With fewer courses counted, a claim is inconclusive.",
    )
    if min_n != 20:
        settings["claims.min_n"] = int(min_n)
    return settings


def threshold_widgets() -> dict:
    """One threshold per tested reading (C01, C01b, ...), bound to the URL."""
    settings = {}
    readings = active_claim_set().reading_specs().values()
    tested = [spec for spec in readings if spec.tested]
    columns = st.columns(4)
    for index, spec in enumerate(tested):
        default = round(spec.threshold * 100, 6)
        value = columns[index % 4].number_input(
            f"{spec.id} {spec.label} ({claims.DIRECTIONS[spec.direction]} %)",
            min_value=0.0,
            max_value=100.0,
            value=default,
            step=0.01 if default <= 1 else 5.0,
            format="%g",
            key=f"claims_{spec.id}_threshold",
            bind="query-params",
            help=f'The article says "{spec.says}"; default {claims.rule_text(spec.direction, spec.threshold)}.',
        )
        if abs(value - default) > 1e-9:
            settings[f"claims.{spec.id}.threshold"] = value / 100
    return settings


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


ROW_WIDTHS = [1.4, 4.8, 2.1, 1.3, 2.1, 1.6]  # the threshold column holds "threshold" unbroken at 1440 px


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
    lines = [f"{verdict_badge(r.verdict)} ({r.reading}) read as *{plain(r.reads_as)}*" for r in result.readings]
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


def claim_row(result: claims.ClaimResult, explain: bool) -> None:
    """One claim: a row of the scorecard, or on a phone a card whose parts are each labelled (`ui.layout`)."""
    with st.container(key=f"{CARD_KEY}{result.id}"):
        columns = st.columns(ROW_WIDTHS, vertical_alignment="center")
    columns[0].markdown(verdict_badge(result.verdict))
    columns[1].markdown(
        f"**{result.id}** *“{result.quote}”*",
        help=f"{plain(explanation_text(result))}\n\n**What was counted:** {plain(result.definition)}",
    )
    if result.several_readings:
        columns[1].markdown(readings_text(result))
    if explain or result.verdict == claims.NOT_TESTABLE:
        columns[1].caption(plain(explanation_text(result)))
    columns[2].markdown(estimate_text(result))
    columns[3].markdown(rule_cell(result))
    keys = active_claim_set().reading_specs()[result.id].literature
    columns[4].caption(claims.literature_short(keys) or "No published figure", help=result.literature or None)
    with columns[5]:
        detail_link(result.page)


def header_row() -> None:
    """The scorecard's column names; on a phone each card names its own parts instead."""
    with st.container(key=HEADER_KEY):
        for column, label in zip(st.columns(ROW_WIDTHS), SCORECARD_COLUMNS):
            column.markdown(f"**{label}**")


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
    with st.expander("Change thresholds and definitions"):
        st.caption(
            'The article gives words ("most", "rare"); the defaults turn them into numbers. Change them to see whether a '
            "verdict holds. The link in the address bar keeps your choices."
        )
        settings = definition_widgets()
        st.markdown("**Thresholds** (% of courses, side effects or months)")
        settings |= threshold_widgets()
    settings = with_claim_set(settings)
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
