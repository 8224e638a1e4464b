"""The revaluation engine and margin check, against figures computed by hand."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from collateral import services
from collateral.engine import revalue
from collateral.models import (
    LoanMarginState,
    MarginCall,
    MarginCallEvent,
    MarginCallNotice,
    RevaluationRun,
)
from financing.alerts.models import Alert

D = Decimal
pytestmark = pytest.mark.django_db


@pytest.fixture
def setup(book, btc, usdc, price, top_up, ops, now):
    """10 BTC lent to ACME against 1,000,000 USDC with a 5% haircut; BTC at 50,000."""
    services.haircut_set(actor=ops_risk(ops), asset=usdc, haircut=D("0.05"), now=now)
    price(btc, "50000")
    price(usdc, "1")
    loan = book()
    top_up(loan, usdc, "1000000")
    return loan


def ops_risk(user):
    from tests.factories import UserFactory

    return UserFactory(role="risk", username=f"hc-{user.pk}")


def test_ltv_and_figures_match_hand_computation(setup, value):
    v = value(setup)
    # exposure 10 x 50,000 = 500,000; collateral 1,000,000 x 1 x 0.95 = 950,000
    assert v.exposure_qty == D("10")
    assert v.exposure_usd == D("500000")
    assert v.collateral_value_usd == D("950000")
    # 500000 / 950000 = 0.526315789473684210|526... -> half-even at 18 places rounds up
    assert v.ltv == D("0.526315789473684211")
    assert v.band == "ok"
    assert v.top_up_usd == 0
    assert v.excess_usd == 0  # 52.6% is above the 50% release level
    assert not v.stale
    (line,) = v.lines
    assert line["asset"] == "USDC" and D(line["haircut"]) == D("0.05")
    assert D(line["value_usd"]) == D("950000")
    assert (v.initial_ltv, v.call_ltv, v.liquidation_ltv) == (D("0.65"), D("0.75"), D("0.85"))


def test_call_opens_with_top_up_to_initial_ltv_and_deadline(setup, btc, price, value, now):
    later = now + timedelta(minutes=10)
    price(btc, "75000", at=later)
    revalue(now=later)
    call = MarginCall.objects.get(loan=setup)
    # exposure 750,000; LTV 750000/950000 = 0.789473684210526315|789 -> ...316
    assert call.status == "open"
    assert call.opening_ltv == D("0.789473684210526316")
    # 750000 / 0.65 = 1,153,846.153846153846153846|15 -> minus 950,000 collateral value
    assert call.required_top_up_usd == D("203846.153846153846153846")
    assert call.deadline == later + timedelta(hours=24)
    assert call.side == "on_counterparty"
    notice = MarginCallNotice.objects.get(call=call, kind="call")
    assert "78.95%" in notice.body and "203,846.15" in notice.body and "ACME" in notice.recipient
    assert Alert.objects.filter(kind="margin_call", dedupe_key=f"margin_call:{call.pk}").exists()
    # A second run does not open a second call.
    revalue(now=later + timedelta(minutes=1))
    assert MarginCall.objects.filter(loan=setup).count() == 1


def test_top_up_meets_the_call(setup, btc, usdc, price, top_up, now):
    later = now + timedelta(minutes=10)
    price(btc, "75000", at=later)
    revalue(now=later)
    # 203,846.153846... of value at 0.95 per USDC = 214,574.8988 USDC: post 214,575
    top_up(setup, usdc, "214575", at=later + timedelta(minutes=1))
    call = MarginCall.objects.get(loan=setup)
    assert call.status == "met" and call.closed_at is not None
    assert call.current_ltv <= D("0.65")
    kinds = list(MarginCallEvent.objects.filter(call=call).values_list("kind", flat=True))
    assert kinds == ["opened", "top_up", "met"]
    assert MarginCallNotice.objects.filter(call=call, kind="met").exists()
    assert (
        not Alert.objects.filter(dedupe_key=f"margin_call:{call.pk}")
        .exclude(status="resolved")
        .exists()
    )


def test_hysteresis_keeps_the_call_open_just_below_the_line(setup, btc, price, now):
    t = now + timedelta(minutes=5)
    price(btc, "75000", at=t)
    revalue(now=t)
    call = MarginCall.objects.get(loan=setup)
    # LTV 0.74 (exposure 703,000): below the call level, but not by two points
    t += timedelta(minutes=5)
    price(btc, "70300", at=t)
    revalue(now=t)
    call.refresh_from_db()
    assert call.status == "open" and call.current_ltv == D("0.74")
    # LTV 0.73 (exposure 693,500): two points below: met
    t += timedelta(minutes=5)
    price(btc, "69350", at=t)
    revalue(now=t)
    call.refresh_from_db()
    assert call.status == "met"
    assert "hysteresis" in call.resolution


def test_stale_price_flags_the_valuation_and_opens_no_call(setup, btc, usdc, price, now):
    # The last prices are from NOW; twenty minutes later they are stale, even at 75,000.
    price(btc, "75000", at=now + timedelta(minutes=1))
    later = now + timedelta(minutes=20)
    price(usdc, "1", at=later)
    revalue(now=later)
    state = LoanMarginState.objects.get(loan=setup)
    assert state.stale and state.band == "call"
    assert not MarginCall.objects.filter(loan=setup).exists()
    alert = Alert.objects.get(kind="stale_price", dedupe_key="stale_price:BTC")
    assert "1 loan(s)" in alert.body
    # A fresh price: the call opens and the stale alert resolves.
    price(btc, "75000", at=later + timedelta(minutes=1))
    revalue(now=later + timedelta(minutes=1))
    assert MarginCall.objects.filter(loan=setup, status="open").exists()
    alert.refresh_from_db()
    assert alert.status == "resolved"


def test_liquidation_level_moves_the_call_and_escalation_at_deadline(setup, btc, usdc, price, now):
    t = now + timedelta(minutes=5)
    price(btc, "75000", at=t)
    revalue(now=t)
    call = MarginCall.objects.get(loan=setup)
    deadline = call.deadline
    price(btc, "75000", at=deadline)
    revalue(now=deadline)
    call.refresh_from_db()
    assert call.status == "escalated" and call.escalated_at == deadline
    # 85% of 950,000 = 807,500: BTC at 80,750 reaches liquidation
    t = deadline + timedelta(minutes=1)
    price(btc, "80750", at=t)
    price(usdc, "1", at=t)
    revalue(now=t)
    call.refresh_from_db()
    assert call.status == "liquidation"
    assert MarginCallNotice.objects.filter(call=call, kind="liquidation").exists()
    assert Alert.objects.filter(kind="margin_liquidation").exists()


def test_no_collateral_is_above_every_threshold(book, btc, price, now):
    price(btc, "50000")
    loan = book()
    run = revalue(now=now).run
    state = LoanMarginState.objects.get(loan=loan)
    assert state.ltv is None and state.band == "liquidation"
    assert run.scope == RevaluationRun.Scope.BOOK
    assert MarginCall.objects.get(loan=loan).status == "liquidation"


def test_run_stores_the_prices_it_used(setup, now):
    run = revalue(now=now).run
    assert run.prices["BTC"]["price_usd"] == "50000"
    assert run.loans_valued == 1 and run.finished_at == now
    assert set(run.steps) >= {"prices", "loans", "positions", "values", "valuations"}


# ---------------------------------------------------------------- exact rounding in SQL

from decimal import ROUND_HALF_EVEN  # noqa: E402

from django.db import connection  # noqa: E402
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from collateral.engine import _div_step, _round  # noqa: E402

_DECIMALS = st.decimals(
    min_value=D(0), max_value=D("1e12"), places=30, allow_nan=False, allow_infinity=False
)
Q18 = D("1e-18")


@settings(max_examples=200, deadline=None)
@given(n=_DECIMALS, ties=st.booleans())
def test_sql_rounding_is_half_even_at_18_places(n, ties):
    if ties:  # force an exact tie at the 19th place
        n = n.quantize(Q18) + D("5e-19")
    with connection.cursor() as cur:
        cur.execute(f"SELECT {_round('%(n)s::numeric')}", {"n": str(n)})
        (got,) = cur.fetchone()
    assert got == n.quantize(Q18, rounding=ROUND_HALF_EVEN)


@settings(max_examples=200, deadline=None)
@given(
    n=_DECIMALS,
    d=st.decimals(
        min_value=D("0.000001"),
        max_value=D("1e9"),
        places=12,
        allow_nan=False,
        allow_infinity=False,
    ),
)
def test_sql_division_is_half_even_at_18_places(n, d):
    if d == 0:
        return
    inner, outer = _div_step("%(n)s::numeric", "%(d)s::numeric", "t")
    with connection.cursor() as cur:
        cur.execute(f"SELECT {outer} FROM (SELECT {inner}) x", {"n": str(n), "d": str(d)})
        (got,) = cur.fetchone()
    from decimal import localcontext

    with localcontext() as ctx:
        ctx.prec = 100
        assert got == (n / d).quantize(Q18, rounding=ROUND_HALF_EVEN)


def test_exposure_includes_accrued_unsettled_interest(
    book, btc, usdc, price, top_up, value, risk, now
):
    from loans.accrual import accruals_book_through

    services.haircut_set(actor=risk, asset=usdc, haircut=D("0"), now=now)
    loan = book(start_date=now.date() - timedelta(days=10), rate=D("0.073"))
    accruals_book_through(through=now.date() - timedelta(days=1), now=now)
    price(btc, "50000")
    price(usdc, "1")
    top_up(loan, usdc, "1000000")
    v = value(loan)
    # 10 days x 10 BTC x 7.3% / 365 = 0.02 BTC accrued: exposure 10.02 BTC x 50,000
    assert v.exposure_qty == D("10.02")
    assert v.exposure_usd == D("501000")
    assert v.ltv == D("0.501")


def test_crossing_the_warning_level_raises_one_warning_alert(setup, btc, usdc, price, now):
    t = now + timedelta(minutes=5)
    price(btc, "68000", at=t)  # 680,000 / 950,000 = 71.6%: warning, no call
    price(usdc, "1", at=t)
    revalue(now=t)
    revalue(now=t + timedelta(seconds=1))
    alerts = Alert.objects.filter(kind="margin_warning")
    assert alerts.count() == 1 and alerts.get().dedupe_key == f"margin_warning:{setup.pk}"
    assert not MarginCall.objects.exists()
