"""The main platform journeys as a person walks them, in Debian's Chromium."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from financing.approvals.models import ApprovalRequest
from financing.refdata.models import Counterparty
from tests.browser.conftest import login, shot
from tests.factories import CounterpartyFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PW = "pw-for-tests-2026"


def test_login_failure_shows_a_clear_message(new_page):
    UserFactory(username="ops1", role="ops")
    page = new_page()
    login(page, "ops1", "wrong-password")
    assert page.url.endswith("/accounts/login/")
    assert page.get_by_role("alert").is_visible()
    shot(page, "login-failed")


def test_dashboard_shows_role_navigation_tiles_and_utc_clock(new_page):
    UserFactory(username="ops1", role="ops")
    page = new_page()
    login(page, "ops1", PW)
    page.wait_for_selector("[data-testid=kpi-tiles]")
    assert "UTC" in page.inner_text("#utc-clock")
    nav = page.inner_text("nav.sidenav")
    assert "Approvals inbox" in nav and "Counterparties" in nav and "Jobs" in nav
    assert page.locator("[data-tile='jobs.health']").is_visible()
    shot(page, "dashboard-light")
    page.click("#theme-toggle")
    assert page.evaluate("document.documentElement.dataset.theme") == "dark"
    shot(page, "dashboard-dark")


def test_kyc_change_is_requested_by_one_user_and_approved_by_another(new_page):
    UserFactory(username="comp1", role="compliance")
    UserFactory(username="comp2", role="compliance")
    CounterpartyFactory(code="NORTHSTAR", kyc_status="pending", kyc_expires_on=None)
    expiry = (timezone.now().date() + timedelta(days=365)).isoformat()

    maker = new_page()
    login(maker, "comp1", PW)
    maker.goto("/refdata/counterparties/NORTHSTAR/")
    maker.select_option("select[name=kyc_status]", "approved")
    maker.fill("input[name=kyc_expires_on]", expiry)
    maker.fill("textarea[name=reason]", "CDD complete, sanctions clear")
    maker.get_by_role("button", name="Request KYC change").click()
    maker.wait_for_load_state()
    assert "sent for approval" in maker.content()
    approval = ApprovalRequest.objects.get(action="counterparty.kyc_change")
    assert Counterparty.objects.get(code="NORTHSTAR").kyc_status == "pending"

    # The maker sees no Approve button on their own request.
    maker.goto(f"/approvals/{approval.pk}/")
    assert maker.get_by_role("button", name="Approve").count() == 0
    shot(maker, "approval-maker-view")

    checker = new_page()
    login(checker, "comp2", PW)
    checker.goto("/approvals/")
    checker.get_by_role("link", name=f"#{approval.pk}").first.click()
    checker.fill("textarea[name=reason]", "File reviewed")
    shot(checker, "approval-checker-view")
    checker.get_by_role("button", name="Approve").click()
    checker.wait_for_load_state()
    approval.refresh_from_db()
    assert approval.status == "approved"
    cp = Counterparty.objects.get(code="NORTHSTAR")
    assert cp.kyc_status == "approved" and cp.kyc_expires_on.isoformat() == expiry
    checker.goto("/refdata/counterparties/NORTHSTAR/")
    assert "Approved" in checker.inner_text("main")
    shot(checker, "counterparty-after-approval")


def test_auditor_follows_a_record_timeline(new_page):
    UserFactory(username="aud1", role="auditor")
    cp = CounterpartyFactory(code="GALAXY")
    page = new_page()
    login(page, "aud1", PW)
    page.goto("/audit/")
    page.wait_for_selector("[data-testid=data-table]")
    page.goto(f"/audit/refdata/counterparty/{cp.pk}/")
    assert "GALAXY" in page.inner_text("main")
    shot(page, "audit-timeline")
