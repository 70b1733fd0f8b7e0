"""The month of a course day: round(day / 30.4375), half away from zero, checked with exact decimals."""

from decimal import ROUND_HALF_UP, Decimal

from engine_values import values_of
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis.engine.derivations import month


def month_of_day(days, dtype="float64") -> list:
    return values_of(month, list(days), dtype)


def month_by_hand(day: int) -> int:
    """Exact: Decimal division and half-up rounding (away from zero for negative days too)."""
    return int((Decimal(day) / Decimal("30.4375")).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def test_every_day_of_three_years_either_side_of_the_start():
    days = list(range(-1100, 1101))
    assert month_of_day(days) == [month_by_hand(d) for d in days]


@given(st.integers(-(10**6), 10**6))
@settings(max_examples=100, deadline=None)
def test_any_day(day):
    assert month_of_day([day])[0] == month_by_hand(day)


def test_days_just_past_a_half_month():
    # 137 / 30.4375 = 4.501: month 5; 136 / 30.4375 = 4.468: month 4; 15.21875 days is exactly half a month
    assert month_of_day([137, 136, -137, 15.21875, -15.21875, 15.2]) == [5, 4, -5, 1, -1, 0]


def test_missing_days_have_no_month():
    assert month_of_day([30.0, None, -400.0]) == [1, None, -13]
