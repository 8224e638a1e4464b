"""Edges of the margin lifecycle: a liquidation racing a recovery, pooled releases, merged
margin ladders, absurd quantities, partial top-ups and the hysteresis, warnings that clear."""

from __future__ import annotations

import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection

from collateral import margin, services
from collateral.engine import revalue
from collateral.models import (
    CollateralPosition,
    LoanValuation,
    MarginCall,
    MarginCallNotice,
)
from financing.alerts.models import Alert
from financing.errors import Conflict, InvalidInput

D = Decimal
pytestmark = pytest.mark.django_db


@pytest.fixture
def lent(btc, usdc, price, risk, book, top_up, now):
    """10 BTC lent against 1,000,000 USDC (5% haircut): LTV 52.6% at BTC 50,000."""
    services.haircut_set(actor=risk, asset=usdc, haircut=D("0.05"), now=now)
    price(btc, "50000")
    price(usdc, "1")
    loan = book()
    top_up(loan, usdc, "1000000")
    return loan


def _move_btc(price, btc, usdc, value, at):
    price(btc, value, at=at)
    price(usdc, "1", at=at)


def test_liquidation_refuses_a_call_its_own_revaluation_meets(lent, btc, usdc, price, risk, now):
    t = now + timedelta(minutes=1)
    _move_btc(price, btc, usdc, "75000", t)
    revalue(now=t)
    call = MarginCall.objects.get(loan=lent)
    margin.margin_call_escalate(actor=risk, call=call, now=t, reason="no answer")
    # Prices recover before the sale: 67,500 x 10 / 950,000 = 71% (below 73%, no top-up).
    t2 = t + timedelta(minutes=1)
    _move_btc(price, btc, usdc, "67500", t2)
    with pytest.raises(Conflict, match="closed"):
        margin.margin_call_liquidate(actor=risk, call=call, now=t2)
    call.refresh_from_db()
    assert call.status == "met"
    assert CollateralPosition.objects.get(loan=lent).quantity == D("1000000")


def test_a_partial_top_up_does_not_meet_through_the_hysteresis(lent, btc, usdc, price, top_up, now):
    t = now + timedelta(minutes=1)
    _move_btc(price, btc, usdc, "75000", t)
    revalue(now=t)
    # 80,000 USDC more: 750,000 / 1,026,000 = 73.1% -> 72.99% needs a little more; 85,000:
    # 750,000 / 1,030,750 = 72.76%: below 73% but above 65%, so the call stays open.
    top_up(lent, usdc, "85000", at=t)
    call = MarginCall.objects.get(loan=lent)
    assert call.status == "open" and call.current_ltv < D("0.73")
    # A price move alone would have met it: without the top-up, at 69,350 (73%).


def test_a_pooled_release_is_checked_against_every_loan_sharing_the_pool(
    book, btc, usdc, price, ops, risk, cp, venue, now
):
    services.haircut_set(actor=risk, asset=usdc, haircut=D("0"), now=now)
    price(btc, "50000")
    price(usdc, "1")
    book(principal=D("5"))  # 250,000 of exposure against a 400,000 pool: 62.5%
    services.collateral_top_up(
        actor=ops,
        counterparty=cp,
        direction="received",
        asset=usdc,
        venue=venue,
        quantity=D("400000"),
        now=now,
    )
    with pytest.raises(Conflict, match="not below its release level"):
        services.collateral_release_request(
            actor=ops,
            counterparty=cp,
            direction="received",
            asset=usdc,
            venue=venue,
            quantity=D("1000"),
            now=now,
        )
    services.collateral_top_up(
        actor=ops,
        counterparty=cp,
        direction="received",
        asset=usdc,
        venue=venue,
        quantity=D("200000"),
        now=now,
    )  # 41.7%
    with pytest.raises(Conflict, match="above its initial LTV"):
        services.collateral_release_request(
            actor=ops,
            counterparty=cp,
            direction="received",
            asset=usdc,
            venue=venue,
            quantity=D("300000"),
            now=now,
        )
    # 250,000 / 0.65 = 384,615.38 must stay: 215,000 may go.
    approval = services.collateral_release_request(
        actor=ops,
        counterparty=cp,
        direction="received",
        asset=usdc,
        venue=venue,
        quantity=D("215000"),
        now=now,
    )
    assert approval.action == "collateral.release"


def test_a_merged_ladder_with_the_call_below_the_initial_ltv_never_flaps(
    book, btc, usdc, price, top_up, risk, now
):
    services.haircut_set(actor=risk, asset=usdc, haircut=D("0"), now=now)
    price(btc, "50000")
    price(usdc, "1")
    loan = book(margin={"call_ltv": D("0.60")})  # the house initial LTV 0.65 stays
    top_up(loan, usdc, "800000")  # 500,000 / 800,000 = 62.5%
    for k in range(4):
        revalue(now=now + timedelta(seconds=k))
    assert not MarginCall.objects.filter(loan=loan).exists()
    assert MarginCallNotice.objects.count() == 0


def test_absurd_quantities_are_refused_and_never_break_the_book(lent, usdc, ops, venue, now):
    with pytest.raises(InvalidInput):
        services.collateral_top_up(
            actor=ops, loan=lent, asset=usdc, venue=venue, quantity=D("999999999999999"), now=now
        )
    assert CollateralPosition.objects.get(loan=lent).quantity == D("1000000")
    # Even a value past NUMERIC(38,18) written behind the services' back is capped, flagged.
    CollateralPosition.objects.filter(loan=lent).update(quantity=D("99999999999999999999"))
    revalue(now=now)
    v = LoanValuation.objects.filter(loan=lent).order_by("-id").first()
    assert v.stale and v.collateral_value_usd == D("1e19")


def test_movements_on_a_loan_off_the_margin_book_are_refused(lent, usdc, ops, venue, now):
    type(lent).objects.filter(pk=lent.pk).update(status="liquidated")
    with pytest.raises(Conflict, match="liquidated"):
        services.collateral_release_request(
            actor=ops, loan=lent, asset=usdc, venue=venue, quantity=D("10"), now=now
        )


def test_a_warning_clears_and_the_next_crossing_alerts_again(lent, btc, usdc, price, now):
    t = now
    for value, expect_open in (("68000", 1), ("50000", 0), ("68000", 1)):
        t += timedelta(minutes=1)
        _move_btc(price, btc, usdc, value, t)
        revalue(now=t)
        assert (
            Alert.objects.filter(kind="margin_warning").exclude(status="resolved").count()
            == expect_open
        )
    assert Alert.objects.filter(kind="margin_warning").count() == 2


def test_a_path_with_a_nul_byte_is_not_a_500(api, risk, lent):
    assert api(risk).get("/api/counterparties/A%00B/collateral/").status_code == 404


@pytest.mark.django_db(transaction=True)
def test_a_top_up_during_a_revaluation_waits_instead_of_deadlocking(
    lent, usdc, ops, venue, btc, price, now
):
    t = now + timedelta(minutes=1)
    _move_btc(price, btc, usdc, "75000", t)
    revalue(now=t)  # a call is open: both paths touch its row
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def book_run():
        try:
            barrier.wait(timeout=10)
            for k in range(3):
                revalue(now=t + timedelta(seconds=k))
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    def top_ups():
        try:
            barrier.wait(timeout=10)
            for _ in range(3):
                services.collateral_top_up(
                    actor=ops, loan=lent, asset=usdc, venue=venue, quantity=D("10000"), now=t
                )
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=book_run), threading.Thread(target=top_ups)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=60)
    assert not errors, errors
    assert CollateralPosition.objects.get(loan=lent).quantity == D("1030000")


def test_every_recorded_move_follows_the_transitions_map(lent, btc, usdc, price, top_up, risk, now):
    from collateral.models import CALL_TRANSITIONS, MarginCallEvent

    t = now + timedelta(minutes=1)
    _move_btc(price, btc, usdc, "75000", t)
    revalue(now=t)
    call = MarginCall.objects.get(loan=lent)
    margin.margin_call_escalate(actor=risk, call=call, now=t, reason="no answer")
    t += timedelta(minutes=1)
    _move_btc(price, btc, usdc, "85000", t)  # 89.5%: liquidation
    revalue(now=t)
    top_up(lent, usdc, "400000", at=t)  # 850,000 / 1,330,000 = 63.9%: met before the sale
    call.refresh_from_db()
    assert call.status == "met"
    moves = [
        (e.from_status, e.to_status)
        for e in MarginCallEvent.objects.filter(call=call)
        if e.from_status and e.to_status and e.from_status != e.to_status
    ]
    assert moves == [("open", "escalated"), ("escalated", "liquidation"), ("liquidation", "met")]
    for old, new in moves:
        assert new in CALL_TRANSITIONS[old]
    assert MarginCallNotice.objects.filter(call=call, kind="met").exists()
    assert (
        not Alert.objects.filter(dedupe_key__endswith=f":{call.pk}")
        .exclude(status="resolved")
        .exists()
    )
