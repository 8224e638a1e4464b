"""Money rules of the accrual engine as properties: restated totals equal the totals had the
change been known from the start; settlement rounding never loses value; three concurrent runs
book each day exactly once; repayment-day boundaries."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.db.models import Sum
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from financing.approvals.services import approval_approve
from loans import daycount, services
from loans.accrual import accruals_book_through
from loans.models import Accrual, InterestSettlement
from loans.selectors import loan_list

NOW = datetime(2026, 11, 21, 9, 30, tzinfo=UTC)
START = date(2026, 9, 1)
THROUGH = date(2026, 11, 20)
DB_SETTINGS = settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _rate_on(schedule: list[tuple[date, Decimal]], day: date) -> Decimal:
    rate = None
    for eff, r in schedule:  # in booking order: the latest booked wins on a tie
        if eff <= day and (rate is None or eff >= rate[0]):
            rate = (eff, r)
    return rate[1]


def _total(loan) -> Decimal:
    return Accrual.objects.filter(loan=loan).aggregate(s=Sum("amount"))["s"] or Decimal(0)


@pytest.mark.django_db
@DB_SETTINGS
@given(
    convention=st.sampled_from(daycount.CONVENTIONS),
    changes=st.lists(
        st.tuples(
            st.integers(min_value=0, max_value=(THROUGH - START).days),
            st.decimals(min_value=Decimal("0"), max_value=Decimal("0.5"), places=4),
        ),
        min_size=1,
        max_size=4,
    ),
    accrue_between=st.booleans(),
)
def test_restated_totals_equal_totals_had_the_changes_been_known_from_the_start(
    book, maker, checker, convention, changes, accrue_between
):
    loan = book(day_count=convention, start_date=START, principal=Decimal("7.12345678"))
    accruals_book_through(through=THROUGH, now=NOW)
    schedule = [(START, loan.rate)]
    for offset, rate in changes:
        eff = START + timedelta(days=offset)
        approval = services.loan_rate_change_request(
            actor=maker, loan=loan, rate=rate, effective_date=eff, now=NOW
        )
        approval_approve(approval_id=approval.pk, checker=checker, now=NOW)
        schedule.append((eff, rate))
        if accrue_between:
            accruals_book_through(through=THROUGH, now=NOW)
    accruals_book_through(through=THROUGH, now=NOW)
    expected = Decimal(0)
    day = START
    while day <= THROUGH:
        expected += daycount.daily_accrual(loan.principal, _rate_on(schedule, day), convention, day)
        day += timedelta(days=1)
    assert _total(loan) == expected
    # Booked accrual rows were never edited: still one per day, at the original rate.
    originals = Accrual.objects.filter(loan=loan, kind="accrual")
    assert originals.count() == (THROUGH - START).days + 1
    assert set(originals.values_list("rate", flat=True)) == {loan.rate}
    assert all(a.cause for a in Accrual.objects.filter(loan=loan, kind="adjustment"))


@pytest.mark.django_db
@DB_SETTINGS
@given(
    principal=st.decimals(min_value=Decimal("0.00000001"), max_value=Decimal("50000"), places=8),
    rate=st.decimals(min_value=Decimal("0.0001"), max_value=Decimal("0.5"), places=4),
    first=st.integers(min_value=1, max_value=40),
    second=st.integers(min_value=41, max_value=80),
)
def test_settlement_rounding_never_loses_value(book, maker, principal, rate, first, second):
    loan = book(principal=principal, rate=rate, start_date=START)
    accruals_book_through(through=THROUGH, now=NOW)
    settled = Decimal(0)
    for offset in (first, second):
        on = START + timedelta(days=offset)
        before = _total_before(loan, on)
        try:
            s = services.loan_interest_settle(actor=maker, loan=loan, on=on, now=NOW)
        except services.Conflict:
            continue  # less than one satoshi accrued so far: nothing to settle, nothing lost
        assert s.amount == s.amount.quantize(Decimal("1e-8"))
        assert s.amount + s.carried == before - settled
        assert Decimal(0) <= s.carried < Decimal("1e-8")
        settled += s.amount
    assert settled == sum(
        InterestSettlement.objects.filter(loan=loan).values_list("amount", flat=True)
    )
    loan = loan_list().get(pk=loan.pk)
    assert loan.balance.interest_settled + loan.accrued_unsettled == _total(loan)


def _total_before(loan, day) -> Decimal:
    return Accrual.objects.filter(loan=loan, date__lt=day).aggregate(s=Sum("amount"))["s"] or 0


@pytest.mark.django_db
def test_repayment_day_uses_the_reduced_principal_and_the_day_before_the_old(book, maker):
    loan = book(start_date=date(2026, 11, 1), principal=Decimal("10"))
    services.loan_repay(actor=maker, loan=loan, amount=Decimal("4"), on=date(2026, 11, 10), now=NOW)
    accruals_book_through(through=THROUGH, now=NOW)
    rows = {a.date: a for a in Accrual.objects.filter(loan=loan)}
    assert rows[date(2026, 11, 9)].principal == Decimal("10")
    assert rows[date(2026, 11, 10)].principal == Decimal("6")


@pytest.mark.django_db
def test_full_repayment_on_the_start_date_accrues_nothing(book, maker):
    loan = book(start_date=date(2026, 11, 1))
    services.loan_repay(actor=maker, loan=loan, amount=Decimal("10"), on=date(2026, 11, 1), now=NOW)
    accruals_book_through(through=THROUGH, now=NOW)
    assert not Accrual.objects.filter(loan=loan).exists()


@pytest.mark.django_db
def test_backdated_full_repayment_reverses_the_days_after_it(book, maker):
    loan = book(start_date=date(2026, 11, 1))
    accruals_book_through(through=THROUGH, now=NOW)
    services.loan_repay(actor=maker, loan=loan, amount=Decimal("10"), on=date(2026, 11, 5), now=NOW)
    accruals_book_through(through=THROUGH, now=NOW)
    per_day = dict(
        Accrual.objects.filter(loan=loan)
        .values("date")
        .annotate(s=Sum("amount"))
        .values_list("date", "s")
    )
    assert all(per_day[d] == 0 for d in per_day if d >= date(2026, 11, 5))
    assert all(per_day[d] > 0 for d in per_day if d < date(2026, 11, 5))
    adj = Accrual.objects.filter(loan=loan, kind="adjustment")
    assert adj.count() == 16 and all("repayment" in a.cause for a in adj)


@pytest.mark.django_db(transaction=True)
def test_three_concurrent_runs_book_each_day_exactly_once(book):
    loans = [book(start_date=date(2026, 10, 1)) for _ in range(5)]
    barrier = threading.Barrier(3)
    errors = []

    def run():
        try:
            barrier.wait()
            accruals_book_through(through=THROUGH, now=NOW)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    days = (THROUGH - date(2026, 10, 1)).days + 1
    for loan in loans:
        rows = Accrual.objects.filter(loan=loan)
        assert rows.count() == days
        assert rows.values("date").distinct().count() == days
        assert loan_list().get(pk=loan.pk).accrued_total == _total(loan)
