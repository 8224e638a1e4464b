"""Day-count conventions (domain.md), as exact fractions.

The accrual of day D is principal_eod(D) x rate(D) x DCF(D, D+1). The engine computes the same
fractions in SQL (loans/accrual.py); this module is the Python statement of the rule, used by
single-loan figures (settlement previews, page schedules) and checked against QuantLib in tests.
"""

from __future__ import annotations

import calendar
from datetime import date, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from fractions import Fraction

from django.db import models

from financing.money import INTERMEDIATE_PLACES


class DayCount(models.TextChoices):
    """The conventions the product knows (domain.md, api.md): the one list of them."""

    ACT_365F = "ACT/365F", "ACT/365F"
    ACT_360 = "ACT/360", "ACT/360"
    ACT_ACT_ISDA = "ACT/ACT-ISDA", "ACT/ACT-ISDA"
    THIRTY_E_360 = "30E/360", "30E/360"


ACT_365F = DayCount.ACT_365F.value
ACT_360 = DayCount.ACT_360.value
ACT_ACT_ISDA = DayCount.ACT_ACT_ISDA.value
THIRTY_E_360 = DayCount.THIRTY_E_360.value
CONVENTIONS = tuple(DayCount.values)


def day_fraction(convention: str, day: date) -> Fraction:
    """DCF(D, D+1) under `convention`, exactly."""
    if convention == ACT_365F:
        return Fraction(1, 365)
    if convention == ACT_360:
        return Fraction(1, 360)
    if convention == ACT_ACT_ISDA:
        return Fraction(1, 366 if calendar.isleap(day.year) else 365)
    if convention == THIRTY_E_360:
        nxt = day + timedelta(days=1)
        days = (
            360 * (nxt.year - day.year)
            + 30 * (nxt.month - day.month)
            + min(nxt.day, 30)
            - min(day.day, 30)
        )
        return Fraction(days, 360)
    raise ValueError(f"unknown day count {convention!r}")


def period_fraction(convention: str, start: date, end: date) -> Fraction:
    """The sum of the daily fractions over [start, end)."""
    total = Fraction(0)
    day = start
    while day < end:
        total += day_fraction(convention, day)
        day += timedelta(days=1)
    return total


def round_half_even(value: Fraction, places: int = INTERMEDIATE_PLACES) -> Decimal:
    """Round an exact fraction to `places` decimals, half to even (what the SQL engine does)."""
    scaled = value * 10**places
    q, r = divmod(scaled.numerator, scaled.denominator)
    twice = 2 * r
    if twice > scaled.denominator or (twice == scaled.denominator and q % 2 == 1):
        q += 1
    return (Decimal(q).scaleb(-places)).quantize(Decimal(1).scaleb(-places), ROUND_HALF_EVEN)


def daily_accrual(principal: Decimal, rate: Decimal, convention: str, day: date) -> Decimal:
    """One day's accrual, rounded to 18 places half-even from the exact product."""
    return round_half_even(Fraction(principal) * Fraction(rate) * day_fraction(convention, day))


#: The day fractions each convention can produce, by the LoanTerms column holding its amount.
SEGMENT_FRACTIONS = {
    ACT_365F: {"base": Fraction(1, 365), "leap": Fraction(1, 365)},
    ACT_360: {"base": Fraction(1, 360), "leap": Fraction(1, 360)},
    ACT_ACT_ISDA: {"base": Fraction(1, 365), "leap": Fraction(1, 366)},
    THIRTY_E_360: {"base": Fraction(1, 360), "leap": Fraction(1, 360)},
}


def segment_amounts(principal: Decimal, rate: Decimal, convention: str) -> dict[str, Decimal]:
    """The rounded daily amounts a terms segment carries (LoanTerms.daily_amount*)."""
    pr = Fraction(principal) * Fraction(rate)
    f = SEGMENT_FRACTIONS[convention]
    return {
        "daily_amount": round_half_even(pr * f["base"]),
        "daily_amount_leap": round_half_even(pr * f["leap"]),
        "daily_amount_2": round_half_even(pr * Fraction(2, 360)),
        "daily_amount_3": round_half_even(pr * Fraction(3, 360)),
    }
