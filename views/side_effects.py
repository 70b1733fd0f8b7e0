"""Side effects: how often each happened against the document's wording, when, how severe, and whether it went away."""

import streamlit as st

from analysis.areas.side_effects import compute as se
from analysis.areas.side_effects.sections import NO_EVENTS, SECTIONS, analyse
from ui.kept import kept
from ui.page import page_header, require_data
from ui.presenter import shown_count, shown_of, shown_share
from ui.sections import page_audience, show_sections

# Option shown (and carried in the URL) -> how terms are grouped.
TERM_MODES = {"Preferred term": "preferred_term", "As written": "term"}


def _settings() -> se.SideEffectSettings:
    with st.expander("Definitions", expanded=False):
        left, middle, right = st.columns(3)
        emergent = left.toggle(
            "Only side effects that began on treatment",
            value=True,
            key="ae_emergent",
            bind="query-params",
            help="From the first dose up to the chosen number of days after the last dose.",
        )
        window = middle.number_input(
            "Days after the last dose still counted",
            0,
            365,
            30,
            step=1,
            key="ae_window",
            bind="query-params",
            disabled=not emergent,
        )
        days = right.number_input(
            "'Went away' means resolved within ... days of the last dose",
            0,
            730,
            90,
            step=1,
            key="ae_resolution_days",
            bind="query-params",
        )
        mode = st.radio(
            "Name side effects by",
            list(TERM_MODES),
            horizontal=True,
            key="ae_terms",
            bind="query-params",
            help="Preferred term: synonyms and misspellings merged by the dictionary. As written: the data's own words.",
        )
    return se.SideEffectSettings(
        treatment_emergent=emergent,
        window_days_after_end=int(window),
        resolution_days=int(days),
        term_column=TERM_MODES[mode],
    )


def _metrics(data: se.EventData, anyone, discontinued, resolved) -> None:
    columns = st.columns(4)
    columns[0].metric(
        "Courses at risk", shown_count(data.at_risk), help="Every course in the selection: each has a first dose."
    )
    columns[1].metric("With any side effect", _percent(anyone), help=_interval(anyone))
    columns[2].metric("Stopped because of a side effect", _percent(discontinued), help=_interval(discontinued))
    columns[3].metric(
        f"Gone within {data.settings.resolution_days} days of the last dose",
        _percent(resolved),
        help=_interval(resolved),
    )


def _percent(estimate) -> str:
    return "–" if estimate.estimate is None else shown_share(f"{estimate.estimate:.1%}", estimate.numerator, estimate.n)


def _interval(estimate) -> str:
    if estimate.estimate is None:
        return estimate.method
    ci = shown_share(f"95% CI {estimate.ci_low:.1%} to {estimate.ci_high:.1%}", estimate.numerator, estimate.n)
    return f"{shown_of(estimate.numerator, estimate.n)}; {ci} ({estimate.method})"


view = page_header(
    "Side effects",
    "How often each side effect occurred per course, held against the document's "
    "'common', 'rare' and 'very rare', when it began, how severe it was and whether it went away.",
)
if require_data(view):
    settings = _settings()
    result = kept(view.filtered, "side_effects.analysed", settings, lambda: analyse(view.filtered, settings))
    data = result.data
    if not data.has_event_data:
        st.info(NO_EVENTS)
    else:
        st.caption(
            f"Counted per course: {settings.describe()}. {shown_count(data.recorded_events)} episodes recorded, "
            f"{shown_count(len(data.events))} counted, {shown_count(data.outside_window)} outside the window."
        )
        _metrics(data, se.any_event_estimate(data), se.discontinuation_estimate(data), se.resolved_share(data))
        show_sections(SECTIONS, view.filtered, result, page_audience())
