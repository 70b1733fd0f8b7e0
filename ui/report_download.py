"""The report download: the current view as one self-contained HTML file, built when clicked."""

from __future__ import annotations

from datetime import date

import streamlit as st

from analysis.outputs.report import build_report

from .presenter import presenter_on, suppression_threshold
from .sidebar import View

SUPPRESS_KEY = "report_suppress"


def report_download(view: View, settings: dict | None) -> None:
    """A download button for the report on the filtered courses with `settings` (None: the settings cannot be used)."""
    st.subheader("Share as a report")
    if settings is None:
        st.caption("Fix the thresholds and definitions above to build a report.")
        return
    threshold = suppression_threshold()
    suppress = (
        True
        if presenter_on()
        else st.toggle(
            f"Hide counts under {threshold} (for sharing)",
            value=True,
            key=SUPPRESS_KEY,
            bind="query-params",
            help=f'Counts from 1 to {threshold - 1} show as "<{threshold}" in the report\'s tables, and shares that would reveal them are '
            "withheld. Turn off only for a private report that stays within the care team.",
        )
    )
    if not suppress:
        st.warning("Private report: every count is shown, however small. Do not share it outside the care team.")
    st.caption(
        "One HTML file that opens in any browser without a network: the claims scorecard, every chart of the outcome pages "
        "(interactive), the key tables, these filters and definitions, the dataset's fingerprint, the date and the software "
        "version. The course timeline of a single patient is never included. Building it takes a few seconds."
    )
    st.download_button(
        "Download the report (HTML)",
        data=lambda: report_bytes(view, dict(settings), suppress, threshold),
        file_name=f"isotretinoin_report_{date.today():%Y-%m-%d}.html",
        mime="text/html",
        key="report_download",
        on_click="ignore",
        type="primary",
        icon=":material/description:",
    )


def report_bytes(view: View, settings: dict, suppress: bool, threshold: int) -> bytes:
    html = build_report(
        view.filtered, settings, view.filters.describe(), suppress, threshold=threshold, full_cohort=view.cohort
    )
    return html.encode("utf-8")
