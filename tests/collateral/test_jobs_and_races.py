"""The collateral jobs, the debounced revaluation after prices, pooled collateral, and one
open call per loan whatever the concurrency."""

from __future__ import annotations

import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db import connection

from collateral import services
from collateral.engine import Scope, revalue
from collateral.models import (
    LoanMarginState,
    LoanValuation,
    MarginCall,
    MarginCallEvent,
    PriceTouch,
    RevaluationRun,
)
from financing.jobs.models import JobRun
from financing.jobs.registry import beat_schedule

D = Decimal


@pytest.fixture
def called_book(db, book, btc, usdc, price, top_up, risk, now):
    """Three loans whose LTV is at the call level once BTC reaches 75,000."""
    services.haircut_set(actor=risk, asset=usdc, haircut=D("0.05"), now=now)
    price(btc, "50000")
    price(usdc, "1")
    loans = [book() for _ in range(3)]
    for loan in loans:
        top_up(loan, usdc, "1000000")
    later = now + timedelta(minutes=2)
    price(btc, "75000", at=later)
    price(usdc, "1", at=later)
    return loans, later


@pytest.mark.django_db(transaction=True)
def test_concurrent_revaluations_open_one_call_per_loan(called_book):
    loans, later = called_book
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def run(k):
        try:
            barrier.wait(timeout=10)
            revalue(now=later + timedelta(seconds=k))
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors
    for loan in loans:
        assert MarginCall.objects.filter(loan=loan).count() == 1
    assert MarginCallEvent.objects.filter(kind="opened").count() == 3
    assert RevaluationRun.objects.filter(scope="book").count() == 4


@pytest.mark.django_db(transaction=True)
def test_one_open_call_is_enforced_by_the_database(called_book):
    loans, later = called_book
    revalue(now=later)
    call = MarginCall.objects.get(loan=loans[0])
    from django.db import IntegrityError, transaction

    with pytest.raises(IntegrityError), transaction.atomic():
        MarginCall.objects.create(
            loan=loans[0],
            side=call.side,
            status="open",
            opened_at=later,
            deadline=later,
            opening_valuation_id=call.opening_valuation_id,
            required_top_up_usd=0,
            current_top_up_usd=0,
            last_valued_at=later,
        )


def test_new_prices_revalue_only_the_loans_they_touch(
    called_book, book, eth, price, top_up, usdc, now
):
    _loans, later = called_book
    eth_loan = book(asset=eth, principal=D("100"))
    price(eth, "3000", at=later)
    top_up(eth_loan, usdc, "500000", at=later)
    PriceTouch.objects.all().delete()
    services.prices_record(rows=[services.PriceInput(eth, D("3100"), later, "feed2")], now=later)
    assert list(PriceTouch.objects.values_list("asset__symbol", flat=True)) == ["ETH"]
    run = services.revalue_touched(now=later)
    assert run.scope == "touched" and run.loans_valued == 1
    assert LoanValuation.objects.filter(run_id=run.pk).get().loan_id == eth_loan.pk
    assert not PriceTouch.objects.exists()
    assert services.revalue_touched(now=later) is None  # a second task finds nothing to do


def test_pooled_collateral_is_shared_pro_rata_to_exposure(
    book, btc, usdc, price, ops, risk, cp, venue, value, now
):
    services.haircut_set(actor=risk, asset=usdc, haircut=D("0"), now=now)
    price(btc, "50000")
    price(usdc, "1")
    small = book(principal=D("1"))  # 50,000 of exposure
    large = book(principal=D("3"))  # 150,000
    services.collateral_top_up(
        actor=ops,
        counterparty=cp,
        direction="received",
        asset=usdc,
        venue=venue,
        quantity=D("400000"),
        now=now,
    )
    v_small, v_large = value(small), value(large)
    assert v_small.pooled_value_usd == D("100000") and v_large.pooled_value_usd == D("300000")
    assert v_small.ltv == v_large.ltv == D("0.5")
    assert v_small.lines[0]["pooled"] is True and D(v_small.lines[0]["share"]) == D("0.25")


def test_borrow_loan_tracks_the_counterpartys_call_and_recallable_excess(
    book, btc, usdc, price, top_up, value, now
):
    price(btc, "50000")
    price(usdc, "1")
    loan = book(direction="borrow")
    top_up(loan, usdc, "2000000")  # posted by the firm; USDC has no haircut set: 100%
    v = value(loan)
    assert v.band == "liquidation" and v.collateral_value_usd == 0
    call = MarginCall.objects.get(loan=loan)
    assert call.side == "on_firm"


def test_excess_is_reported_below_the_release_level(
    book, btc, usdc, price, top_up, value, risk, now
):
    services.haircut_set(actor=risk, asset=usdc, haircut=D("0"), now=now)
    price(btc, "50000")
    price(usdc, "1")
    loan = book(direction="borrow")
    top_up(loan, usdc, "2000000")
    v = value(loan)
    # LTV 500,000 / 2,000,000 = 25% < 50%: excess = 2,000,000 - 500,000 / 0.65
    assert v.ltv == D("0.25")
    assert v.excess_usd == D("2000000") - D("769230.769230769230769231")


@pytest.mark.django_db(transaction=True)
def test_revalue_collateral_command_and_beat_schedule(called_book, capsys):
    call_command("revalue_collateral")
    out = capsys.readouterr().out
    assert "revalued 3 loans" in out
    run = JobRun.objects.get(job="revalue_collateral")
    assert run.status == "succeeded" and run.counts["loans_valued"] == 3
    schedule = beat_schedule()
    assert {"revalue_collateral", "pull_prices"} <= {v["args"][0] for v in schedule.values()}
    assert LoanMarginState.objects.count() == 3


@pytest.mark.django_db(transaction=True)
def test_calls_past_their_deadline_escalate_between_revaluations(called_book):
    from financing.alerts.models import Alert
    from financing.jobs.services import job_run

    loans, later = called_book
    revalue(now=later)
    call = MarginCall.objects.get(loan=loans[0])
    from collateral.margin import margin_calls_escalate_due

    assert margin_calls_escalate_due(now=call.deadline - timedelta(seconds=1)) == 0
    assert margin_calls_escalate_due(now=call.deadline) == 3
    call.refresh_from_db()
    assert call.status == "escalated" and call.escalated_at == call.deadline
    assert call.notices.filter(kind="escalation").exists()
    assert Alert.objects.filter(dedupe_key=f"margin_escalation:{call.pk}").exists()
    assert job_run("escalate_margin_calls", trigger="test").counts == {"escalated": 0}


def test_a_call_on_a_loan_that_left_the_book_closes(called_book, ops):
    from loans import services as loan_services

    loans, later = called_book
    revalue(now=later)
    loan = loans[0]
    loan_services.loan_repay(actor=ops, loan=loan, amount=D("10"), on=loan.start_date, now=later)
    # Closing needs the accrual run up to the repayment; the loan's status is all that matters
    # to the margin check, so it is set directly here.
    type(loan).objects.filter(pk=loan.pk).update(status="closed")
    revalue(now=later + timedelta(minutes=1))
    call = MarginCall.objects.get(loan=loan)
    assert call.status == "met" and "left the book (closed)" in call.resolution
    assert MarginCall.objects.filter(closed_at__isnull=True).count() == 2


def test_touched_run_reaches_loans_sharing_a_pool(
    book, btc, eth, usdc, price, ops, risk, cp, venue, now
):
    services.haircut_set(actor=risk, asset=usdc, haircut=D("0"), now=now)
    price(btc, "50000")
    price(eth, "3000")
    price(usdc, "1")
    btc_loan = book(principal=D("1"))
    eth_loan = book(asset=eth, principal=D("10"))
    services.collateral_top_up(
        actor=ops,
        counterparty=cp,
        direction="received",
        asset=usdc,
        venue=venue,
        quantity=D("400000"),
        now=now,
    )
    # An ETH price moves the ETH loan's exposure, and so the BTC loan's share of the pool.
    run = revalue(now=now, scope=Scope(kind="touched", asset_ids=(eth.pk,))).run
    valued = set(LoanValuation.objects.filter(run_id=run.pk).values_list("loan_id", flat=True))
    assert valued == {btc_loan.pk, eth_loan.pk}
