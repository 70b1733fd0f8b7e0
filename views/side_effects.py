"""Side effects: how often each happened against the document's wording, when, how severe, and whether it went away."""

import streamlit as st

from analysis.areas.side_effects import compute as se
from analysis.areas.side_effects import figures as figs
from ui.charts import show_chart
from ui.page import csv_download, page_header, require_data, show_table
from ui.presenter import SUPPRESSED, chart_suppression, shown_count, shown_of, shown_share, withheld
from ui.sidebar import FILTER_LABELS

RATE_COLUMNS = {
    "what": "Because of a side effect",
    "term": "Side effect",
    "body_system": "Body system",
    "group": "Group",
    "courses": st.column_config.NumberColumn("Courses with it", format="%d"),
    "events": "Episodes",
    "at_risk": st.column_config.NumberColumn("Courses at risk", format="%d"),
    "rate": st.column_config.NumberColumn("Share", format="percent"),
    "ci_low": st.column_config.NumberColumn("95% CI from", format="percent"),
    "ci_high": st.column_config.NumberColumn("95% CI to", format="percent"),
    "band": "CIOMS band",
    "ci_bands": "Bands the CI covers",
    "recognised": "In the dictionary",
    "risk_difference": st.column_config.NumberColumn("Difference", format="percent"),
    "rd_ci_low": st.column_config.NumberColumn("Difference CI from", format="percent"),
    "rd_ci_high": st.column_config.NumberColumn("Difference CI to", format="percent"),
    "risk_ratio": st.column_config.NumberColumn("Ratio", format="%.2f"),
    "rr_ci_low": st.column_config.NumberColumn("Ratio CI from", format="%.2f"),
    "rr_ci_high": st.column_config.NumberColumn("Ratio CI to", format="%.2f"),
    "fisher_p": st.column_config.NumberColumn("Fisher p", format="%.3g"),
    "reference": "Compared with",
}
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


def _named_effects(data: se.EventData) -> None:
    st.subheader("What the document says, and what happened")
    named = se.named_effects_table(data)
    show_chart(
        figs.named_effects_figure(named, data.settings, suppress_below=chart_suppression()),
        "Side effects named in the article",
    )
    shown = named.assign(
        **{
            "in the data": [
                shown_share(f"{r:.1%} ({lo:.1%} to {hi:.1%})", k, n) if r == r and r is not None else "–"
                for r, lo, hi, k, n in zip(
                    named["rate"], named["ci_low"], named["ci_high"], named["courses"], named["at_risk"]
                )
            ]
        },
    )[["effect", "document_says", "in the data", "band", "ci_bands", "comparison", "literature"]]
    hidden = [withheld(k, n) for k, n in zip(named["courses"], named["at_risk"])]
    shown.loc[hidden, ["band", "ci_bands"]] = SUPPRESSED  # a band is a coarse share of the same small count
    show_table(
        shown.rename(
            columns={
                "document_says": "document says",
                "band": "band in the data",
                "ci_bands": "bands the 95% CI covers",
                "literature": "published figure",
            }
        ),
        hide_index=True,
        width="stretch",
    )
    csv_download(named, "side_effects_named.csv", key="ae-download-named")
    st.caption(
        "Mood swings or depression counts a mood side effect or a PHQ-9 score rising from below 10 at baseline to 10 or "
        "more on treatment. Liver enzymes and cholesterol are measured from blood tests on the Labs page."
    )


def _all_terms(data: se.EventData, table) -> None:
    st.subheader("Every side effect, ranked")
    show_chart(figs.incidence_figure(table, data.settings, suppress_below=chart_suppression()), "Side effects ranked")
    left, right = st.columns(2)
    terms = table["term"].head(12).tolist()
    show_chart(
        figs.onset_figure(se.onset_table(data, terms), terms, data.settings, suppress_below=chart_suppression()),
        "Side effect onset",
        container=left,
    )
    if data.events["grade"].notna().any():
        show_chart(
            figs.grade_figure(
                se.worst_grade_table(data, terms), terms, data.settings, suppress_below=chart_suppression()
            ),
            "Side effect grades",
            container=right,
        )
    else:
        right.info(
            "No severity grade is recorded (column `grade` of the adverse events is empty), so the grade chart is not shown."
        )


def _resolution(data: se.EventData, table) -> None:
    st.subheader("Did they go away, and what was done?")
    left, right = st.columns([3, 2])
    resolution = None
    if data.events["resolved_day"].notna().any():
        resolution = se.resolution_table(data, table["term"].head(8).tolist())
        show_chart(
            figs.resolution_figure(resolution, data.settings, suppress_below=chart_suppression()),
            "Side effect resolution",
            container=left,
        )
    else:
        left.info(
            "No resolution day is recorded (column `resolved_day` of the adverse events is empty), so resolution cannot be shown."
        )
    show_chart(
        figs.events_per_course_figure(se.events_per_course(data), data.settings, suppress_below=chart_suppression()),
        "Side effects per course",
        container=right,
    )
    actions = se.action_table(data)
    recorded = actions[actions["recorded"]]
    if recorded.empty:
        st.info(
            "Neither `end_reason` of the courses nor `action` of the adverse events is recorded, so stopping and dose changes cannot be shown."
        )
    else:
        show_table(
            recorded.drop(columns=["recorded", "interval"]),
            hide_index=True,
            width="stretch",
            column_config=RATE_COLUMNS,
        )
    if resolution is not None:
        with st.expander("Resolution table"):
            show_table(se.with_display_terms(resolution, data.settings), hide_index=True, width="stretch")
            csv_download(resolution, "side_effects_resolution.csv", key="ae-download-resolution")


def _comparison(data: se.EventData, table) -> None:
    st.subheader("Compare groups")
    groupings = [
        c for c in data.courses.columns if c not in ("course_idx", "end_day") and 1 < data.courses[c].nunique() <= 50
    ]
    if not groupings:
        st.info("No column divides these courses into groups.")
        return
    left, right = st.columns(2)
    group_by = left.selectbox(
        "Compare by", groupings, format_func=lambda c: FILTER_LABELS.get(c, c), key="ae_group", bind="query-params"
    )
    effects = [se.ANY_EFFECT, *se.NAMED_EFFECT_LABELS, *[t for t in table["term"] if t not in se.NAMED_EFFECT_LABELS]]
    effect = right.selectbox(
        "Side effect",
        effects,
        format_func=lambda term: se.shown_terms([term], data.settings)[0],
        key="ae_effect",
        bind="query-params",
    )
    terms, column = _effect_terms(effect, data.settings)
    compared = se.comparison_table(data, group_by, terms, column)
    label = FILTER_LABELS.get(group_by, group_by)
    show_chart(
        figs.comparison_figure(compared, effect, label, data.settings, suppress_below=chart_suppression()),
        f"Side effects by {group_by}",
    )
    show_table(compared.drop(columns=["interval"]), hide_index=True, width="stretch", column_config=RATE_COLUMNS)
    st.caption(
        "Risk difference with Newcombe's interval, risk ratio with a log interval (shown when both groups have cases), "
        "two-sided Fisher's exact test, each group against the reference."
    )
    csv_download(compared, "side_effects_comparison.csv", key="ae-download-comparison")


def _effect_terms(effect: str, settings: se.SideEffectSettings) -> tuple:
    if effect == se.ANY_EFFECT:
        return None, "preferred_term"
    if effect in se.NAMED_EFFECT_LABELS:
        return se.named_effect(effect).terms, "preferred_term"
    return (effect,), "term"


def _tables(data: se.EventData, table) -> None:
    st.subheader("All side effects")
    columns = [
        "term",
        "body_system",
        "courses",
        "events",
        "at_risk",
        "rate",
        "ci_low",
        "ci_high",
        "band",
        "ci_bands",
        "recognised",
    ]
    show_table(
        se.with_display_terms(table[columns], data.settings),
        hide_index=True,
        width="stretch",
        column_config=RATE_COLUMNS,
    )
    csv_download(table, "side_effects_all_terms.csv", key="ae-download-terms")
    unknown = se.unrecognised_terms(data)
    st.subheader("Terms the dictionary did not recognise")
    if unknown.empty:
        st.success("Every recorded term was recognised.")
    else:
        st.caption(
            "These are counted under the words they were written in. Add them to `data/ae_terms.csv` to merge them with a preferred term."
        )
        show_table(unknown, hide_index=True, width="stretch")
        csv_download(unknown, "side_effects_unrecognised.csv", key="ae-download-unrecognised")


view = page_header(
    "Side effects",
    "How often each side effect occurred per course, held against the document's "
    "'common', 'rare' and 'very rare', when it began, how severe it was and whether it went away.",
)
if require_data(view):
    settings = _settings()
    data = se.event_data(view.filtered, settings)
    if not data.has_event_data:
        st.info(
            "These courses have no adverse events recorded (the `adverse_events` table is empty), so side effects cannot be measured."
        )
    else:
        st.caption(
            f"Counted per course: {settings.describe()}. {shown_count(data.recorded_events)} episodes recorded, "
            f"{shown_count(len(data.events))} counted, {shown_count(data.outside_window)} outside the window."
        )
        table = se.incidence_table(data)
        _metrics(data, se.any_event_estimate(data), se.discontinuation_estimate(data), se.resolved_share(data))
        _named_effects(data)
        _all_terms(data, table)
        _resolution(data, table)
        _comparison(data, table)
        _tables(data, table)
