"""A loan's life as people walk it in Chromium: ops books, risk approves, ops watches it accrue,
changes its rate back-dated, another user approves, and the restatement shows."""

from __future__ import annotations

from datetime import timedelta

import pytest

from financing import clock
from loans.accrual import accruals_book_through
from loans.models import Loan
from tests.browser.conftest import login, shot
from tests.factories import AssetFactory, CounterpartyFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PW = "pw-for-tests-2026"


def test_book_approve_accrue_and_restate_a_loan(new_page):
    UserFactory(username="ops1", role="ops")
    UserFactory(username="risk1", role="risk")
    AssetFactory(symbol="BTC", name="Bitcoin", decimals=8)
    CounterpartyFactory(code="ACME")
    today = clock.business_date()
    start = today - timedelta(days=10)

    ops = new_page()
    login(ops, "ops1", PW)
    ops.goto("/loans/new/")
    ops.select_option("#id_counterparty", "ACME")
    ops.select_option("#id_asset", "BTC")
    ops.fill("#id_principal", "2.5")
    ops.fill("#id_rate", "0.06")
    ops.fill("#id_start_date", start.isoformat())
    ops.fill("#id_recall_notice_days", "2")
    ops.click("form[data-testid=book-form] button[type=submit]")
    ops.wait_for_selector("[data-testid=loan-status]")
    assert "Pending approval" in ops.inner_text("[data-testid=loan-status]")
    loan = Loan.objects.get()
    shot(ops, "loan-booked")

    risk = new_page()
    login(risk, "risk1", PW)
    risk.goto(f"/approvals/{loan.approval_id}/")
    risk.click("button[value=approve]")
    risk.wait_for_selector("[data-testid=approval-status]")
    assert "Approved" in risk.inner_text("[data-testid=approval-status]")

    accruals_book_through(through=today - timedelta(days=1), now=clock.now())
    ops.goto(f"/loans/{loan.pk}/")
    assert "Active" in ops.inner_text("[data-testid=loan-status]")
    assert ops.locator("[data-testid=accruals] tbody tr").count() == 10
    before = ops.inner_text("[data-testid=accrued]")

    ops.click("[data-testid=action-rate-change] summary")
    ops.fill("#id_rate-change-rate", "0.09")
    ops.fill("#id_rate-change-effective_date", (start + timedelta(days=5)).isoformat())
    ops.click("[data-testid=action-rate-change] button[type=submit]")
    assert "waits for another user" in ops.inner_text(".messages")
    rate_approval = loan.events.get(kind="rate_change_requested").data["approval"]

    risk.goto(f"/approvals/{rate_approval}/")
    risk.click("button[value=approve]")
    risk.wait_for_selector("[data-testid=approval-status]")

    accruals_book_through(through=today - timedelta(days=1), now=clock.now())
    ops.goto(f"/loans/{loan.pk}/")
    ledger = ops.inner_text("[data-testid=accruals]")
    assert ledger.count("adjustment #1") == 5 and "rate change" in ledger
    assert ops.inner_text("[data-testid=accrued]") != before
    shot(ops, "loan-restated")
