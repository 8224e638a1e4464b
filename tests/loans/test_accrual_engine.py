"""The accrual engine: one row per loan per day, exact amounts, catch-up, restatement."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.db.models import Sum

from financing.approvals.services import approval_approve
from loans import daycount, services
from loans.accrual import accruals_book_through
from loans.models import Accrual
from loans.selectors import loan_accrued_through, loan_accrued_total

pytestmark = pytest.mark.django_db


def _expected(loan, start: date, end: date, principal=None, rate=None) -> Decimal:
    total = Decimal(0)
    day = start
    while day < end:
        total += daycount.daily_accrual(
            principal or loan.principal, rate or loan.rate, loan.day_count, day
        )
        day += timedelta(days=1)
    return total


def test_one_day_books_one_row_per_loan_with_the_exact_amount(book, now):
    loan = book(principal=Decimal("12.5"), rate=Decimal("0.0735"), day_count="ACT/360")
    run = accruals_book_through(through=date(2026, 11, 1), now=now)
    row = Accrual.objects.get(loan=loan)
    assert (row.date, row.kind, row.seq) == (date(2026, 11, 1), "accrual", 0)
    assert row.amount == daycount.daily_accrual(
        Decimal("12.5"), Decimal("0.0735"), "ACT/360", row.date
    )
    assert row.day_count_fraction == Decimal("0.002777777777777778")
    assert run.rows_booked == 1 and run.loans_accrued == 1


def test_running_twice_books_nothing_more(book, now):
    loan = book()
    accruals_book_through(through=date(2026, 11, 10), now=now)
    second = accruals_book_through(through=date(2026, 11, 10), now=now)
    assert second.rows_booked == 0
    assert Accrual.objects.filter(loan=loan).count() == 10
    assert (
        loan_accrued_total(loan)
        == Accrual.objects.filter(loan=loan).aggregate(s=Sum("amount"))["s"]
    )
    assert loan_accrued_through(loan) == date(2026, 11, 10)


def test_catch_up_books_every_missing_day_in_order(book, now):
    loan = book(day_count="30E/360")
    accruals_book_through(through=date(2026, 11, 3), now=now)
    run = accruals_book_through(through=date(2026, 11, 20), now=now)
    days = list(Accrual.objects.filter(loan=loan).order_by("date").values_list("date", flat=True))
    assert days == [date(2026, 11, 1) + timedelta(days=i) for i in range(20)]
    assert run.days_booked == 17 and run.first_day == date(2026, 11, 4)
    assert loan_accrued_total(loan) == _expected(loan, date(2026, 11, 1), date(2026, 11, 21))


def test_backdated_rate_change_books_adjustments_not_edits(book, maker, checker, now):
    loan = book()
    accruals_book_through(through=date(2026, 11, 20), now=now)
    before = list(Accrual.objects.filter(loan=loan).values_list("pk", "amount"))
    approval = services.loan_rate_change_request(
        actor=maker,
        loan=loan,
        rate=Decimal("0.08"),
        effective_date=date(2026, 11, 11),
        now=now,
        reason="counterparty agreed a new rate from the 11th",
    )
    approval_approve(approval_id=approval.pk, checker=checker, now=now)
    run = accruals_book_through(through=date(2026, 11, 20), now=now)
    # Booked rows are untouched.
    assert (
        list(Accrual.objects.filter(loan=loan, kind="accrual").values_list("pk", "amount"))
        == before
    )
    adjustments = Accrual.objects.filter(loan=loan, kind="adjustment")
    assert adjustments.count() == 10 and run.loans_restated == 1
    assert all("rate change" in a.cause for a in adjustments)
    # Totals equal what they would have been had the change been known from the start.
    expected = _expected(loan, date(2026, 11, 1), date(2026, 11, 11)) + _expected(
        loan, date(2026, 11, 11), date(2026, 11, 21), rate=Decimal("0.08")
    )
    assert Accrual.objects.filter(loan=loan).aggregate(s=Sum("amount"))["s"] == expected
    assert loan_accrued_total(loan) == expected


def test_full_repayment_stops_accrual_on_that_day(book, maker, now):
    loan = book()
    accruals_book_through(through=date(2026, 11, 20), now=now)
    services.loan_repay(
        actor=maker, loan=loan, amount=Decimal("10"), on=date(2026, 11, 15), now=now
    )
    accruals_book_through(through=date(2026, 11, 20), now=now)
    total = Accrual.objects.filter(loan=loan).aggregate(s=Sum("amount"))["s"]
    assert total == _expected(loan, date(2026, 11, 1), date(2026, 11, 15))
    loan.refresh_from_db()
    assert loan.end_date == date(2026, 11, 15) and loan.outstanding_principal == 0


def test_leap_year_act_act_isda(book):
    later = datetime(2028, 3, 5, tzinfo=UTC)
    loan = book(day_count="ACT/ACT-ISDA", start_date=date(2028, 2, 27), now=later)
    accruals_book_through(through=date(2028, 3, 1), now=later)
    rows = dict(Accrual.objects.filter(loan=loan).values_list("date", "day_count_fraction"))
    assert rows[date(2028, 2, 29)] == daycount.round_half_even(
        daycount.day_fraction("ACT/ACT-ISDA", date(2028, 2, 29))
    )


def test_a_loan_approved_after_a_run_with_a_backdated_start_catches_up(book, now):
    first = book(start_date=date(2026, 11, 1))
    accruals_book_through(through=date(2026, 11, 20), now=now)
    late = book(start_date=date(2026, 11, 5))  # approved after the run, starts before it
    run = accruals_book_through(through=date(2026, 11, 20), now=now)
    assert run.loans_caught_up == 1 and run.rows_booked == 16
    assert Accrual.objects.filter(loan=late).count() == 16
    assert Accrual.objects.filter(loan=first).count() == 20
    assert loan_accrued_total(late) == _expected(late, date(2026, 11, 5), date(2026, 11, 21))


def test_running_totals_match_the_ledger_across_weekly_roll_ups(book, now):
    loans = [book(start_date=date(2026, 10, 1) + timedelta(days=i)) for i in range(7)]
    for day in range(5, 51, 3):
        accruals_book_through(through=date(2026, 10, 1) + timedelta(days=day), now=now)
    for loan in loans:
        ledger = Accrual.objects.filter(loan=loan).aggregate(s=Sum("amount"))["s"]
        assert loan_accrued_total(loan) == ledger
