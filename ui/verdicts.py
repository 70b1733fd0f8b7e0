"""A claim's verdict as a coloured badge in the app's markdown, one colour per verdict everywhere."""

from __future__ import annotations

from analysis.areas.claims import compute as claims

VERDICT_COLORS = {
    claims.SUPPORTED: "green",
    claims.CONTRADICTED: "red",
    claims.INCONCLUSIVE: "orange",
    claims.DESCRIBED: "gray",
    claims.NOT_TESTABLE: "violet",
    claims.DEPENDS: "blue",
}


def verdict_badge(verdict: str, words: str | None = None) -> str:
    """`:green-badge[Supported]`, or the badge of the verdict's colour holding `words`."""
    return f":{VERDICT_COLORS.get(verdict, 'gray')}-badge[{words or verdict.capitalize()}]"
