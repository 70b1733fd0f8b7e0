"""The month of a course day: round(day / 30.4375), half away from zero, checked with exact decimals."""

from decimal import ROUND_HALF_UP, Decimal

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis.cohort.model import month_of_day


def month_by_hand(day: int) -> int:
    """Exact: Decimal division and half-up rounding (away from zero for negative days too)."""
    return int((Decimal(day) / Decimal("30.4375")).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def test_every_day_of_three_years_either_side_of_the_start():
    days = list(range(-1100, 1101))
    assert month_of_day(pd.Series(days)).tolist() == [month_by_hand(d) for d in days]


@given(st.integers(-(10**6), 10**6))
@settings(max_examples=100, deadline=None)
def test_any_day(day):
    assert month_of_day(pd.Series([day]))[0] == month_by_hand(day)


def test_days_just_past_a_half_month():
    # 137 / 30.4375 = 4.501: month 5; 136 / 30.4375 = 4.468: month 4; 15.21875 days is exactly half a month
    assert month_of_day(pd.Series([137, 136, -137, 15.21875, -15.21875, 15.2])).tolist() == [5, 4, -5, 1, -1, 0]


def test_missing_days_have_no_month_and_the_series_keeps_its_index_and_name():
    months = month_of_day(pd.Series([30.0, None, "x"], index=[7, 8, 9], name="day"))
    assert months.index.tolist() == [7, 8, 9] and months.name == "day" and str(months.dtype) == "Int64"
    assert months[7] == 1 and months.isna().tolist() == [False, True, True]
