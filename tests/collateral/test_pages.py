"""Risk pages: every page renders for the roles that may see it, in a bounded number of
queries, and the actions on them call the same services as the API."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse

from collateral import services
from collateral.engine import revalue
from collateral.models import CollateralPosition, MarginCall
from tests.conftest import NOW

D = Decimal
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen")]


@pytest.fixture
def world(btc, usdc, price, risk, book, top_up, now):
    services.haircut_set(actor=risk, asset=usdc, haircut=D("0.05"), now=now)
    price(btc, "75000")
    price(usdc, "1")
    loans = [book() for _ in range(3)]
    for loan in loans:
        top_up(loan, usdc, "1000000")
    revalue(now=now)
    return loans


def _pages(loan, call):
    return [
        reverse("collateral:dashboard"),
        reverse("collateral:calls"),
        reverse("collateral:call", args=[call.pk]),
        reverse("collateral:loan", args=[loan.pk]),
        reverse("collateral:counterparty", args=["ACME"]),
        reverse("collateral:positions"),
        reverse("collateral:prices"),
        reverse("collateral:haircuts"),
        reverse("collateral:policies"),
    ]


@pytest.mark.parametrize(
    "role", ["ops", "risk", "treasury", "compliance", "auditor", "admin", "trading"]
)
def test_pages_render_for_staff_and_refuse_trading(page, make_user, world, role):
    call = MarginCall.objects.first()
    client = page(make_user(role))
    for url in _pages(world[0], call):
        r = client.get(url)
        if role == "trading":
            assert r.status_code == 403, url
        else:
            assert r.status_code == 200, (url, r.status_code)


def test_dashboard_shows_calls_prices_and_distribution(page, risk, world):
    r = page(risk).get(reverse("collateral:dashboard"))
    html = r.content.decode()
    assert 'data-testid="open-calls">3<' in html
    assert "78.95%" in html  # 750,000 / 950,000
    assert "203,846.15 USD" in html
    assert "ltv-chart-data" in html and "data-deadline" in html


def test_pages_run_a_bounded_number_of_queries(
    page, risk, world, django_assert_max_num_queries, book, top_up, usdc, now
):
    client = page(risk)
    call = MarginCall.objects.first()
    counts = {}
    for url in _pages(world[0], call):
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        with CaptureQueriesContext(connection) as q:
            assert client.get(url).status_code == 200
        counts[url] = len(q)
    # Ten more loans with calls change no page's query count.
    for _ in range(10):
        top_up(book(), usdc, "1000000")
    revalue(now=now)
    for url in _pages(world[0], call):
        with django_assert_max_num_queries(counts[url]):
            assert client.get(url).status_code == 200


def test_top_up_from_the_call_page_meets_the_call(page, ops, world, usdc):
    call = MarginCall.objects.get(loan=world[0])
    r = page(ops).post(
        reverse("collateral:call-action", args=[call.pk, "top-up"]),
        {
            "top-up-asset": "USDC",
            "top-up-venue": "CUST1",
            "top-up-quantity": "214575",
            "top-up-reason": "wire received",
        },
        follow=True,
    )
    assert "Top-up recorded. The call is met" in r.content.decode()
    call.refresh_from_db()
    assert call.status == "met"


def test_bad_top_up_on_a_page_says_why_and_writes_nothing(page, ops, world):
    call = MarginCall.objects.get(loan=world[0])
    before = CollateralPosition.objects.get(loan=world[0]).quantity
    r = page(ops).post(
        reverse("collateral:call-action", args=[call.pk, "top-up"]),
        {"top-up-asset": "USDC", "top-up-venue": "CUST1", "top-up-quantity": "0.0000001"},
        follow=True,
    )
    assert "USDC has 6 decimals" in r.content.decode()
    assert CollateralPosition.objects.get(loan=world[0]).quantity == before


def test_escalate_and_release_from_pages(page, ops, risk, world, usdc):
    call = MarginCall.objects.get(loan=world[1])
    r = page(risk).post(
        reverse("collateral:call-action", args=[call.pk, "escalate"]),
        {"escalate-reason": "counterparty unresponsive"},
        follow=True,
    )
    assert "Call escalated." in r.content.decode()
    call.refresh_from_db()
    assert call.status == "escalated"
    r = page(ops).post(
        reverse("collateral:loan-action", args=[world[2].pk, "release"]),
        {"release-asset": "USDC", "release-venue": "CUST1", "release-quantity": "10"},
        follow=True,
    )
    assert "not below the release level" in r.content.decode()


def test_manual_price_from_the_prices_page_waits_for_approval(page, ops, world, btc):
    r = page(ops).post(
        reverse("collateral:price-manual"),
        {
            "manual-asset": "BTC",
            "manual-price_usd": "70000",
            "manual-as_of": (NOW - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M"),
            "manual-reason": "feed outage",
        },
        follow=True,
    )
    assert "waits for a checker" in r.content.decode()


def test_exports_of_the_calls_table(page, risk, world):
    r = page(risk).get(reverse("collateral:calls") + "?export=csv")
    body = b"".join(r.streaming_content).decode()
    assert body.splitlines()[0].startswith("Call,Status,Side,Loan")
    assert len(body.splitlines()) == 4
