"""Day counts: the daily fractions sum to each convention's year fraction (QuantLib as oracle),
across leap years and month ends; the SQL engine books exactly what the Python rule says."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from fractions import Fraction

import pytest
import QuantLib as ql
from freezegun import freeze_time
from hypothesis import given, settings
from hypothesis import strategies as st

from loans import daycount
from loans.accrual import accruals_book_through
from loans.models import Accrual

QL = {
    "ACT/365F": ql.Actual365Fixed(),
    "ACT/360": ql.Actual360(),
    "ACT/ACT-ISDA": ql.ActualActual(ql.ActualActual.ISDA),
    "30E/360": ql.Thirty360(ql.Thirty360.European),
}
DENOMINATOR = {"ACT/365F": 365, "ACT/360": 360, "30E/360": 360}


def qd(d: date) -> ql.Date:
    return ql.Date(d.day, d.month, d.year)


starts = st.dates(min_value=date(1999, 1, 1), max_value=date(2040, 12, 31))
# Periods that start or end on month ends and around 29 February come up often.
month_ends = st.builds(
    lambda y, m: (date(y, m, 1) + timedelta(days=32)).replace(day=1) - timedelta(days=1),
    st.integers(1999, 2040),
    st.integers(1, 12),
)


@settings(max_examples=400, deadline=None)
@given(
    convention=st.sampled_from(daycount.CONVENTIONS),
    start=st.one_of(starts, month_ends),
    length=st.integers(min_value=1, max_value=1600),
)
def test_daily_fractions_sum_to_the_year_fraction(convention, start, length):
    end = start + timedelta(days=length)
    ours = daycount.period_fraction(convention, start, end)
    dc = QL[convention]
    if convention in DENOMINATOR:
        # Exact: QuantLib's day count over the convention's denominator.
        assert ours == Fraction(dc.dayCount(qd(start), qd(end)), DENOMINATOR[convention])
    else:
        assert abs(float(ours) - dc.yearFraction(qd(start), qd(end))) < 1e-12
        # ...and exactly: the days in each calendar year over that year's length.
        expected = Fraction(0)
        day = start
        while day < end:
            year_end = min(end, date(day.year + 1, 1, 1))
            days_in_year = (date(day.year + 1, 1, 1) - date(day.year, 1, 1)).days
            expected += Fraction((year_end - day).days, days_in_year)
            day = year_end
        assert ours == expected


@pytest.mark.parametrize(
    ("convention", "day", "fraction"),
    [
        ("30E/360", date(2027, 1, 30), Fraction(0)),
        ("30E/360", date(2027, 1, 31), Fraction(1, 360)),
        ("30E/360", date(2027, 2, 28), Fraction(3, 360)),
        ("30E/360", date(2028, 2, 28), Fraction(1, 360)),
        ("30E/360", date(2028, 2, 29), Fraction(2, 360)),
        ("30E/360", date(2027, 12, 31), Fraction(1, 360)),
        ("30E/360", date(2027, 4, 30), Fraction(1, 360)),
        ("ACT/ACT-ISDA", date(2028, 6, 1), Fraction(1, 366)),
        ("ACT/ACT-ISDA", date(2027, 6, 1), Fraction(1, 365)),
        ("ACT/365F", date(2028, 2, 29), Fraction(1, 365)),
        ("ACT/360", date(2028, 2, 29), Fraction(1, 360)),
    ],
)
def test_the_fractions_domain_md_spells_out(convention, day, fraction):
    assert daycount.day_fraction(convention, day) == fraction


@given(
    value=st.fractions(min_value=0, max_value=10**12, max_denominator=10**30),
)
@settings(max_examples=300)
def test_rounding_is_half_even_at_18_places(value):
    rounded = daycount.round_half_even(value)
    step = Fraction(1, 10**18)
    assert abs(Fraction(rounded) - value) <= step / 2
    if abs(Fraction(rounded) - value) == step / 2:
        assert int(rounded.scaleb(18)) % 2 == 0


@pytest.mark.django_db
@pytest.mark.parametrize("convention", daycount.CONVENTIONS)
def test_the_engine_books_what_the_rule_says_across_month_ends_and_29_february(book, convention):
    now = datetime(2028, 4, 2, 3, 0, tzinfo=UTC)
    with freeze_time(now):
        loan = book(
            now=now,
            day_count=convention,
            start_date=date(2027, 12, 15),
            principal=Decimal("123.45678901"),
            rate=Decimal("0.0731"),
        )
        accruals_book_through(through=date(2028, 3, 31), now=now)
    rows = list(Accrual.objects.filter(loan=loan).order_by("date"))
    assert [r.date for r in rows] == [
        date(2027, 12, 15) + timedelta(days=i)
        for i in range((date(2028, 4, 1) - date(2027, 12, 15)).days)
    ]
    for r in rows:
        f = daycount.day_fraction(convention, r.date)
        assert r.day_count_fraction == daycount.round_half_even(f), r.date
        assert r.amount == daycount.daily_accrual(loan.principal, loan.rate, convention, r.date), (
            r.date
        )
    # Summed over the period: the period's year fraction, to within the rounding of each day.
    total = sum(r.amount for r in rows)
    exact = (
        Fraction(loan.principal)
        * Fraction(loan.rate)
        * daycount.period_fraction(convention, date(2027, 12, 15), date(2028, 4, 1))
    )
    assert abs(Fraction(total) - exact) <= Fraction(len(rows), 2 * 10**18)
