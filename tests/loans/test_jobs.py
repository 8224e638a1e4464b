"""The loan book's jobs: the accrual command and the overdue flag, each writing a JobRun."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command
from freezegun import freeze_time

from financing.jobs.models import JobRun
from financing.jobs.registry import beat_schedule
from loans import services
from loans.models import Accrual, AccrualRun, Loan, LoanEvent

pytestmark = pytest.mark.django_db


@pytest.mark.django_db(transaction=True)
def test_accrue_interest_command_books_through_yesterday_and_records_a_job_run(book):
    loan = book(start_date=date(2026, 11, 15))
    with freeze_time("2026-11-21 00:05:00+00:00"):
        call_command("accrue_interest")
    assert Accrual.objects.filter(loan=loan).count() == 6  # 15th..20th
    run = JobRun.objects.get(job="accrue_interest")
    assert run.status == "succeeded" and run.counts["through"] == "2026-11-20"
    assert AccrualRun.objects.get().through == date(2026, 11, 20)


@pytest.mark.django_db(transaction=True)
def test_accrue_interest_through_a_date_and_refusals(book):
    book(start_date=date(2026, 11, 15))
    with freeze_time("2026-11-21 09:00:00+00:00"):
        call_command("accrue_interest", "--through", "2026-11-17")
        assert AccrualRun.objects.get().through == date(2026, 11, 17)
        with pytest.raises(CommandError, match="not over"):
            call_command("accrue_interest", "--through", "2026-11-21")
        with pytest.raises(CommandError, match="not a date"):
            call_command("accrue_interest", "--through", "21/11/2026")


def test_the_daily_beat_runs_the_accrual_and_the_overdue_flag():
    schedule = beat_schedule()
    assert schedule["accrue_interest"]["args"] == ("accrue_interest", "beat")
    assert "flag_overdue_loans" in schedule


def test_a_fixed_loan_unpaid_at_maturity_is_flagged_the_next_day(book):
    loan = book(term="fixed", start_date=date(2026, 11, 1), maturity_date=date(2026, 11, 20))
    assert services.loans_flag_overdue(now=datetime(2026, 11, 20, 23, 0, tzinfo=UTC)) == 0
    assert services.loans_flag_overdue(now=datetime(2026, 11, 21, 0, 10, tzinfo=UTC)) == 1
    loan.refresh_from_db()
    assert loan.is_overdue
    assert LoanEvent.objects.filter(loan=loan, kind="overdue").count() == 1
    # Flagged once only.
    assert services.loans_flag_overdue(now=datetime(2026, 11, 22, 0, 10, tzinfo=UTC)) == 0


def test_a_recalled_loan_past_its_due_date_is_flagged_and_repaying_clears_it(book, maker):
    now = datetime(2026, 11, 10, 9, 0, tzinfo=UTC)
    loan = book(start_date=date(2026, 11, 1), recall_notice_days=2)
    services.loan_recall(actor=maker, loan=loan, now=now)
    assert Loan.objects.get(pk=loan.pk).recall_due_date == date(2026, 11, 12)
    assert services.loans_flag_overdue(now=datetime(2026, 11, 13, 0, 10, tzinfo=UTC)) == 1
    loan.refresh_from_db()
    services.loan_repay(
        actor=maker,
        loan=loan,
        amount=Decimal("10"),
        on=date(2026, 11, 13),
        now=datetime(2026, 11, 13, 9, 0, tzinfo=UTC),
    )
    loan.refresh_from_db()
    assert not loan.is_overdue and loan.end_date == date(2026, 11, 13)


def test_a_repaid_fixed_loan_is_not_flagged(book, maker):
    loan = book(term="fixed", start_date=date(2026, 11, 1), maturity_date=date(2026, 11, 10))
    services.loan_repay(
        actor=maker,
        loan=loan,
        amount=Decimal("10"),
        on=date(2026, 11, 10),
        now=datetime(2026, 11, 10, 9, 0, tzinfo=UTC),
    )
    assert services.loans_flag_overdue(now=datetime(2026, 11, 21, 0, 10, tzinfo=UTC)) == 0
