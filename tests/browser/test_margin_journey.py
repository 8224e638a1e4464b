"""A margin call as risk lives it in Chromium: prices move on the dashboard, the LTV crosses
the call level, a call opens with its deadline and top-up, ops records the top-up on the
call's page and the call is met."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from collateral import services
from collateral.engine import revalue
from financing import clock
from financing.approvals.services import approval_approve
from loans import services as loan_services
from tests.browser.conftest import login, shot
from tests.factories import AssetFactory, CounterpartyFactory, UserFactory, VenueFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PW = "pw-for-tests-2026"
D = Decimal


def test_prices_move_a_call_opens_and_a_top_up_meets_it(new_page, settings):
    settings.REVALUE_ON_PRICES = False  # no worker here: the test revalues as the task would
    ops = UserFactory(username="ops1", role="ops")
    risk = UserFactory(username="risk1", role="risk")
    btc = AssetFactory(symbol="BTC", name="Bitcoin", decimals=8)
    usdc = AssetFactory(symbol="USDC", name="USD Coin", decimals=6, is_stablecoin=True)
    venue = VenueFactory(code="CUST1", kind="custodian")
    cp = CounterpartyFactory(code="ACME", kyc_expires_on=date(2030, 1, 1))
    now = clock.now()
    services.haircut_set(actor=risk, asset=usdc, haircut=D("0.05"), now=now)
    services.prices_record(
        rows=[
            services.PriceInput(btc, D("50000"), now, "feed"),
            services.PriceInput(usdc, D("1"), now, "feed"),
        ],
        now=now,
    )
    loan = loan_services.loan_book(
        actor=ops,
        now=now,
        counterparty=cp,
        direction="lend",
        asset=btc,
        principal=D("10"),
        rate=D("0.05"),
        day_count="ACT/365F",
        term="open",
        start_date=now.date(),
    )
    approval_approve(approval_id=loan.approval_id, checker=risk, now=now)
    services.collateral_top_up(
        actor=ops, loan=loan, asset=usdc, venue=venue, quantity=D("1000000"), now=now
    )
    revalue(now=now)

    page = new_page()
    login(page, "risk1", PW)
    page.goto("/risk/")
    assert "52.63%" in page.inner_text("[data-testid=nearest-table]")
    assert page.inner_text("[data-testid=open-calls]") == "0"
    shot(page, "risk-dashboard-calm")

    # BTC jumps 50%: the new price revalues the loans it touches (the debounced task's work).
    later = clock.now()
    services.prices_record(
        rows=[
            services.PriceInput(btc, D("75000"), later, "feed"),
            services.PriceInput(usdc, D("1"), later, "feed"),
        ],
        now=later,
    )
    services.revalue_touched(now=later)
    page.reload()
    assert page.inner_text("[data-testid=open-calls]") == "1"
    calls = page.inner_text("[data-testid=open-calls-table]")
    assert "78.95%" in calls and "203,846.15 USD" in calls and "left" in calls
    shot(page, "risk-dashboard-call")

    page.click("[data-testid=open-calls-table] a:has-text('MC')")
    page.wait_for_selector("[data-testid=call-status]")
    assert page.inner_text("[data-testid=call-status]") == "Open"
    assert "203,846.15 USD" in page.inner_text("[data-testid=call-top-up]")
    assert "margin call" in page.inner_text("[data-testid=notice]").lower()

    ops_page = new_page()
    login(ops_page, "ops1", PW)
    ops_page.goto(page.url)
    ops_page.click("[data-testid=action-top-up] summary")
    ops_page.select_option("#id_top-up-asset", "USDC")
    ops_page.select_option("#id_top-up-venue", "CUST1")
    ops_page.fill("#id_top-up-quantity", "214575")
    ops_page.fill("#id_top-up-reason", "wire received")
    ops_page.click("[data-testid=action-top-up] button[type=submit]")
    ops_page.wait_for_selector(".message")
    assert "The call is met" in ops_page.inner_text(".messages")
    page.reload()
    assert page.inner_text("[data-testid=call-status]") == "Met"
    assert "Top-up received" in page.inner_text("[data-testid=call-timeline]")
    shot(page, "margin-call-met")
