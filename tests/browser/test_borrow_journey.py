"""A borrow request as the desk lives it in Chromium: a trader submits it in the portal, ops
finds it in the queue, allocates inventory and books it, risk approves the loan in the
approvals inbox, and the trader sees the request booked with its loan."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest

import loans.desk.ui  # noqa: F401  (the navigation, as DeskConfig.ready() registers it)
from financing import clock
from loans.desk.models import BorrowRequest
from loans.models import Loan
from tests.browser.conftest import login, shot
from tests.factories import (
    AssetFactory,
    CounterpartyFactory,
    DeskFactory,
    UserFactory,
    VenueFactory,
)
from treasury.models import BalanceSnapshot, BufferLevel, TreasuryAccount

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PW = "pw-for-tests-2026"
D = Decimal


def test_submit_allocate_book_approve_and_the_desk_sees_its_loan(new_page):
    desk = DeskFactory(code="DELTA1", risk_profile="medium")
    UserFactory(username="trader1", role="trading", desk=desk)
    ops_user = UserFactory(username="ops1", role="ops")
    UserFactory(username="risk1", role="risk")
    btc = AssetFactory(symbol="BTC", name="Bitcoin", decimals=8)
    AssetFactory(symbol="ETH", name="Ether", decimals=18)
    CounterpartyFactory(code="HEDGECO", kyc_expires_on=date(2030, 1, 1))
    now = clock.now()
    account = TreasuryAccount.objects.create(
        venue=VenueFactory(code="CUSTX", kind="custodian"),
        asset=btc,
        purpose="lendable",
        created_by=ops_user,
        created_at=now - timedelta(days=10),
    )
    for days_ago, amount in ((9, "30"), (4, "40"), (0, "50")):
        at = now - timedelta(days=days_ago, minutes=5)
        BalanceSnapshot.objects.create(account=account, amount=D(amount), as_of=at, received_at=at)
    BufferLevel.objects.create(asset=btc, minimum=D("5"), updated_by=ops_user, updated_at=now)

    # The trader asks for 12 BTC for its client.
    trader = new_page()
    login(trader, "trader1", PW)
    trader.goto("/loans/desk/portal/")
    trader.select_option("#id_asset", "BTC")
    trader.fill("#id_quantity", "12")
    trader.fill("#id_max_rate", "0.08")
    trader.fill("#id_tenor_days", "30")
    trader.fill("#id_needed_by", (now + timedelta(hours=6)).strftime("%Y-%m-%dT%H:%M"))
    trader.select_option("#id_urgency", "high")
    trader.fill("#id_expected_revenue_usd", "250000")
    trader.fill("#id_purpose", "client short in a basis trade")
    trader.select_option("#id_counterparty", "HEDGECO")
    trader.click("form[data-testid=submit-form] button[type=submit]")
    trader.wait_for_selector(".messages")
    req = BorrowRequest.objects.get()
    assert f"{req.reference} submitted" in trader.inner_text(".messages")
    row = trader.locator(f"[data-testid=open-requests] tr[data-request={req.reference}]")
    assert "Submitted" in row.inner_text() and "12 BTC" in row.inner_text()
    assert "left" in row.locator("[data-testid=sla]").inner_text()  # the live SLA countdown
    shot(trader, "borrow-portal-submitted")

    # Ops works the queue: the request with the inventory it can draw on.
    ops = new_page()
    login(ops, "ops1", PW)
    ops.goto("/loans/desk/queue/")
    queued = ops.locator(f"[data-testid=queue-table] tr[data-request={req.reference}]")
    assert "45 BTC" in queued.locator("[data-testid=available]").inner_text()  # 50 - 5 buffer
    shot(ops, "borrow-queue")
    queued.locator("[data-testid=work]").click()
    ops.wait_for_selector("[data-testid=request-status]")
    ops.click("[data-testid=action-allocate] summary")
    ops.click("[data-testid=action-allocate] button[type=submit]")
    ops.wait_for_selector(".messages")
    assert "Allocated" in ops.inner_text("[data-testid=request-status]")
    assert "12 BTC" in ops.inner_text("[data-testid=allocated]")
    assert "33 BTC" in ops.inner_text("[data-testid=inventory] [data-testid=available]")
    ops.click("[data-testid=action-book] summary")
    assert ops.input_value("#id_book-rate") == "0.08"
    ops.fill("#id_book-rate", "0.065")
    ops.click("[data-testid=action-book] button[type=submit]")
    ops.wait_for_selector("[data-testid=loan-link]")
    assert "Booked" in ops.inner_text("[data-testid=request-status]")
    assert "booked as" in ops.inner_text(".messages")
    loan = Loan.objects.get()
    assert (loan.principal, loan.rate, loan.status) == (D("12"), D("0.065"), "pending_approval")
    assert "Booked" in ops.inner_text("[data-testid=timeline]")
    shot(ops, "borrow-request-booked")

    # Risk approves the loan from the approvals inbox (never its maker).
    risk = new_page()
    login(risk, "risk1", PW)
    risk.goto("/approvals/")
    risk.click(f"[data-testid=data-table] a[href='/approvals/{loan.approval_id}/']")
    risk.click("button[value=approve]")
    risk.wait_for_selector("[data-testid=approval-status]")
    assert "Approved" in risk.inner_text("[data-testid=approval-status]")

    # The trader sees the request booked, with its live loan.
    trader.reload()
    done = trader.locator(f"[data-testid=closed-requests] tr[data-request={req.reference}]")
    text = done.inner_text()
    assert "Booked" in text and loan.reference in text and "Active" in text
    assert "responded in" in done.locator("[data-testid=sla]").inner_text()
    assert trader.locator(f"tr[data-request={req.reference}] [data-testid=cancel]").count() == 0
    shot(trader, "borrow-portal-booked")

    ops.goto("/loans/desk/inventory/")
    btc_row = ops.locator("[data-testid=inventory-table] tr[data-asset=BTC]")
    assert "24.0%" in btc_row.locator("[data-testid=utilization]").inner_text()  # 12 / 50
    history = ops.inner_text("[data-testid=history-table]")
    assert "50" in history and "40" in history and "30" in history
    ops.wait_for_function("() => window.Chart && Object.keys(Chart.instances).length > 0")
    ops.wait_for_timeout(1200)  # let the bars finish growing before the screenshot
    shot(ops, "borrow-inventory")
