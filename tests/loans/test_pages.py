"""Loan-book pages: the book with totals and export, the detail, the booking form, actions."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from loans.models import Loan
from tests.factories import CounterpartyFactory, UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen")]


def test_the_book_shows_loans_totals_and_a_bounded_number_of_queries(page, maker, book, usdc):
    book()
    book(asset=usdc, principal=Decimal("250000.5"))
    client = page(maker)
    client.get("/loans/")
    with CaptureQueriesContext(connection) as few:
        resp = client.get("/loans/")
    assert resp.status_code == 200
    html = resp.content.decode()
    assert "250000.5 USDC" in html and "10 BTC" in html and "Totals per asset" in html
    for _ in range(5):
        book()
    with CaptureQueriesContext(connection) as many:
        client.get("/loans/")
    assert len(many) == len(few)


def test_the_book_filters_and_an_invalid_filter_shows_nothing(page, maker, book, usdc):
    book()
    book(asset=usdc, principal=Decimal("1000"))
    client = page(maker)
    assert "1000 USDC" not in client.get("/loans/?asset=BTC").content.decode()
    bad = client.get("/loans/?status=bogus").content.decode()
    assert "L1<" not in bad


def test_the_book_exports_what_it_shows(page, maker, book):
    loan = book()
    resp = page(maker).get("/loans/?export=csv")
    body = b"".join(resp.streaming_content).decode()
    assert resp.status_code == 200
    assert body.splitlines()[0].startswith("Loan,Status,Direction")
    assert f"{loan.reference},Active,Lend,ACME,BTC,10 BTC" in body


def test_detail_shows_terms_figures_events_and_actions(page, maker, book):
    loan = book()
    html = page(maker).get(f"/loans/{loan.pk}/").content.decode()
    for text in ("Terms", "Running figures", "Event timeline", "Rate schedule", "Record repayment"):
        assert text in html
    assert "10 BTC" in html


@pytest.mark.parametrize("role", ["risk", "treasury", "compliance", "auditor", "admin"])
def test_staff_roles_read_the_book_and_trading_cannot(page, book, role):
    loan = book()
    assert page(UserFactory(role=role)).get(f"/loans/{loan.pk}/").status_code == 200


def test_trading_users_get_403(page, book):
    loan = book()
    client = page(UserFactory(role="trading"))
    assert client.get("/loans/").status_code == 403
    assert client.get(f"/loans/{loan.pk}/").status_code == 403


def form_data(**over):
    data = {
        "direction": "lend",
        "counterparty": "ACME",
        "asset": "BTC",
        "principal": "5",
        "rate": "0.04",
        "day_count": "ACT/365F",
        "term": "open",
        "start_date": "2026-11-21",
        "recall_notice_days": "1",
        "settlement_frequency": "monthly",
    }
    data.update(over)
    return data


def test_the_booking_form_books_for_approval(page, maker, btc, cp):
    resp = page(maker).post("/loans/new/", form_data())
    loan = Loan.objects.get()
    assert resp.status_code == 302 and resp["Location"] == f"/loans/{loan.pk}/"
    assert loan.status == "pending_approval" and loan.principal == Decimal("5")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"principal": "1.123456789"}, "BTC has 8 decimals"),
        ({"rate": "9"}, "The rate is a yearly fraction"),
        ({"term": "fixed", "recall_notice_days": ""}, "needs a maturity date"),
        ({"counterparty": "NOKYC"}, "KYC is pending"),
        ({"start_date": "2026-02-30"}, "Enter a valid date"),
        ({"initial_ltv": "0.9", "call_ltv": "0.8"}, "Margin levels must rise"),
    ],
)
def test_the_booking_form_shows_field_errors_and_writes_nothing(
    page, maker, btc, cp, change, message
):
    CounterpartyFactory(code="NOKYC", kyc_status="pending")
    resp = page(maker).post("/loans/new/", form_data(**change))
    assert resp.status_code == 200
    assert message in resp.content.decode()
    assert not Loan.objects.exists()


def test_only_ops_may_open_the_booking_form(page):
    assert page(UserFactory(role="risk")).get("/loans/new/").status_code == 403


def test_a_repayment_from_the_detail_page(page, maker, book):
    loan = book()
    resp = page(maker).post(
        f"/loans/{loan.pk}/repayment/",
        {"repayment-amount": "3", "repayment-date": "2026-11-20", "repayment-reason": "partial"},
        follow=True,
    )
    assert "Repayment of 3 BTC recorded." in resp.content.decode()
    loan.refresh_from_db()
    assert loan.outstanding_principal == Decimal("7")


def test_a_refused_action_says_why_and_changes_nothing(page, maker, book):
    loan = book()
    resp = page(maker).post(
        f"/loans/{loan.pk}/repayment/",
        {"repayment-amount": "30", "repayment-date": "2026-11-20"},
        follow=True,
    )
    assert "the repayment is larger" in resp.content.decode()
    loan.refresh_from_db()
    assert loan.outstanding_principal == Decimal("10")


def test_an_action_the_role_may_not_take_is_refused(page, book):
    loan = book()
    resp = page(UserFactory(role="auditor")).post(
        f"/loans/{loan.pk}/recall/", {"recall-reason": "x"}, follow=True
    )
    assert "Your role does not allow" in resp.content.decode()
    loan.refresh_from_db()
    assert loan.status == "active"


def test_accrual_runs_page(page, maker, book):
    from datetime import date

    from financing import clock
    from loans.accrual import accruals_book_through

    book()
    accruals_book_through(through=date(2026, 11, 20), now=clock.now())
    html = page(maker).get("/loans/accrual-runs/").content.decode()
    assert "Interest accrual runs" in html and "2026-11-20" in html
