"""Borrow-desk pages: who sees which page, desk isolation on pages and exports, the portal's
submit form (good and bad input), allocate/book/reject/cancel through the request page, the SLA
clock, the inventory page, navigation and tiles, and bounded query counts."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from financing.accounts.roles import Role
from loans.desk import selectors, services
from loans.desk.models import BorrowRequest
from loans.models import MAX_TENOR_DAYS, Loan
from tests.conftest import NOW
from tests.factories import AssetFactory, CounterpartyFactory, DeskFactory, UserFactory

D = Decimal
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen")]

PORTAL = "/loans/desk/portal/"
QUEUE = "/loans/desk/queue/"
REQUESTS = "/loans/desk/requests/"
INVENTORY = "/loans/desk/inventory/"
STAFF = [r for r in Role.values if r != Role.TRADING]


def _csv(resp) -> list[list[str]]:
    body = b"".join(resp.streaming_content).decode()
    return list(csv.reader(io.StringIO(body)))


def _mentions(body: str, reference: str) -> bool:
    """A whole-word match: a random CSRF token may contain "BR13" inside it."""
    return re.search(rf"\b{reference}\b", body) is not None


def _good_form(**over) -> dict:
    data = {
        "asset": "BTC",
        "quantity": "2.5",
        "max_rate": "0.07",
        "tenor_days": "",
        "needed_by": "2026-11-22T14:00",
        "urgency": "high",
        "expected_revenue_usd": "120000",
        "purpose": "cover a short",
        "counterparty": "",
    }
    data.update(over)
    return data


# ---------------------------------------------------------------- access


@pytest.mark.parametrize("role", Role.values)
def test_every_page_answers_each_role_as_the_matrix_says(page, role, desk_a, submit, btc):
    r = submit()
    user = UserFactory(role=role, desk=desk_a if role == Role.TRADING else None)
    client = page(user)
    trading = role == Role.TRADING
    expected = {
        PORTAL: 200 if trading else 403,
        QUEUE: 403 if trading else 200,
        REQUESTS: 200,
        f"{REQUESTS}?export=csv": 200,
        f"{REQUESTS}?export=xlsx": 200,
        f"{REQUESTS}{r.pk}/": 200,
        INVENTORY: 200,
        f"{INVENTORY}?export=csv": 200,
    }
    got = {url: client.get(url).status_code for url in expected}
    assert got == expected


@pytest.mark.parametrize("url", [PORTAL, QUEUE, REQUESTS, INVENTORY])
def test_anonymous_users_are_sent_to_login(url):
    resp = Client().get(url)
    assert resp.status_code == 302 and resp["Location"].startswith("/accounts/login/")


@pytest.mark.parametrize("action", ["allocate", "book", "reject"])
def test_a_trading_user_may_not_work_a_request(page, trader, submit, stock, action):
    stock("20")
    r = submit()
    resp = page(trader).post(
        f"{REQUESTS}{r.pk}/{action}/", {f"{action}-reason": "no", f"{action}-rate": "0.05"}
    )
    assert resp.status_code == 403
    r.refresh_from_db()
    assert (r.status, r.allocated_quantity, r.events.count()) == ("submitted", 0, 1)


def test_staff_who_do_not_work_the_desk_may_look_but_not_act(page, risk, submit, stock):
    stock("20")
    r = submit()
    client = page(risk)
    body = client.get(f"{REQUESTS}{r.pk}/").content.decode()
    assert r.reference in body and "action-allocate" not in body
    assert client.post(f"{REQUESTS}{r.pk}/allocate/", {}).status_code == 403
    assert client.post(f"{REQUESTS}{r.pk}/cancel/", {}).status_code == 302
    r.refresh_from_db()
    assert r.status == "submitted"  # the service refused: only the desk or operations cancel


# ---------------------------------------------------------------- desk isolation


def test_a_trading_user_never_sees_another_desks_request(page, submit, trader, trader_b, ops):
    ours = submit("1", purpose="ours")
    theirs = submit("2", user=trader_b, purpose="theirs-secret")
    client = page(trader)
    for url in (PORTAL, REQUESTS, f"{REQUESTS}?status=submitted", f"{REQUESTS}?desk=BASIS"):
        body = client.get(url).content.decode()
        assert not _mentions(body, theirs.reference) and "theirs-secret" not in body, url
        if "desk=" not in url:  # (the filter form echoes what was typed, and refuses it)
            assert "BASIS" not in body, url
    assert _mentions(client.get(PORTAL).content.decode(), ours.reference)
    rows = _csv(client.get(f"{REQUESTS}?export=csv"))
    assert [row[0] for row in rows[1:]] == [ours.reference]
    assert client.get(f"{REQUESTS}{theirs.pk}/").status_code == 404
    assert client.post(f"{REQUESTS}{theirs.pk}/cancel/", {}).status_code == 404
    theirs.refresh_from_db()
    assert theirs.status == "submitted"
    # staff see every desk
    staff_rows = _csv(page(ops).get(f"{REQUESTS}?export=csv"))
    assert sorted(row[0] for row in staff_rows[1:]) == sorted([ours.reference, theirs.reference])


def test_the_requests_list_filters_by_status_desk_asset_and_urgency(page, submit, trader_b, ops):
    a = submit("1", urgency="critical")
    b = submit("2", user=trader_b)
    client = page(ops)

    def refs(query):
        return sorted(row[0] for row in _csv(client.get(f"{REQUESTS}?{query}&export=csv"))[1:])

    assert refs("desk=BASIS") == [b.reference]
    assert refs("urgency=critical") == [a.reference]
    assert refs("asset=BTC&status=submitted") == sorted([a.reference, b.reference])
    assert refs("status=booked") == []
    assert refs("status=nonsense") == []  # an invalid filter keeps no rows


# ---------------------------------------------------------------- portal submit


def test_the_portal_submits_a_request_read_as_utc(page, trader, btc, client_cp):
    resp = page(trader).post(PORTAL, _good_form(tenor_days="30", counterparty="CLIENT1"))
    assert resp.status_code == 302 and resp["Location"] == PORTAL
    r = BorrowRequest.objects.get()
    assert (r.desk_id, r.requested_by_id, r.asset_id) == (trader.desk_id, trader.pk, btc.pk)
    assert (r.quantity, r.max_rate, r.tenor_days, r.urgency) == (D("2.5"), D("0.07"), 30, "high")
    assert r.needed_by.isoformat() == "2026-11-22T14:00:00+00:00"
    assert r.counterparty == client_cp and r.sla_due_at == NOW + timedelta(minutes=15)
    body = page(trader).get(PORTAL).content.decode()
    assert f"{r.reference} submitted" in body and "2.5 BTC" in body


def test_blank_tenor_is_an_open_term(page, trader, btc):
    page(trader).post(PORTAL, _good_form())
    assert BorrowRequest.objects.get().tenor_days is None


@pytest.mark.parametrize(
    ("over", "field", "text"),
    [
        ({"quantity": "abc"}, "quantity", "Enter a number"),
        ({"quantity": "0"}, "quantity", "Must be above zero"),
        ({"quantity": "0.000000001"}, "quantity", "BTC has 8 decimals"),
        ({"quantity": "-3"}, "quantity", "Must be above zero"),
        ({"max_rate": "9"}, "max_rate", "from 0 to 5"),
        ({"tenor_days": "0"}, "tenor_days", f"1 to {MAX_TENOR_DAYS} days"),
        ({"needed_by": "2026-11-21T09:00"}, "needed_by", "in the past"),
        ({"needed_by": "tomorrow"}, "needed_by", "Enter a valid date/time"),
        ({"urgency": "yesterday"}, "urgency", "Select a valid choice"),
        ({"asset": "NOPE"}, "asset", "Select a valid choice"),
        ({"purpose": "   "}, "purpose", "This field is required"),
        ({"purpose": "x" * 501}, "purpose", "at most 500 characters"),
        ({"expected_revenue_usd": "1e13"}, "expected_revenue_usd", "from 0 to 1e12"),
        ({"counterparty": "GHOST"}, "counterparty", "Select a valid choice"),
    ],
)
def test_bad_portal_input_shows_the_field_error_and_writes_nothing(
    page, trader, btc, over, field, text
):
    resp = page(trader).post(PORTAL, _good_form(**over))
    assert resp.status_code == 400
    errors = resp.context["form"].errors
    assert field in errors and text in " ".join(errors[field]), errors
    assert text in resp.content.decode().replace("&#x27;", "'")
    assert not BorrowRequest.objects.exists()


def test_a_desk_cancels_its_own_open_request_from_the_portal(page, trader, submit):
    r = submit()
    resp = page(trader).post(f"{REQUESTS}{r.pk}/cancel/", {"next": "portal"})
    assert resp.status_code == 302 and resp["Location"] == PORTAL
    r.refresh_from_db()
    assert r.status == "cancelled"
    body = page(trader).get(PORTAL).content.decode()
    assert "cancelled" in body and 'data-testid="cancel"' not in body


# ---------------------------------------------------------------- working a request


def test_ops_allocates_then_books_and_the_desk_sees_the_loan(
    page, ops, trader, submit, stock, client_cp, frozen
):
    stock("20", buffer="5")
    r = submit("10", counterparty=client_cp)
    client = page(ops)
    url = f"{REQUESTS}{r.pk}/"
    frozen.tick(timedelta(minutes=6))
    client.post(f"{url}allocate/", {"allocate-quantity": "4"})
    r.refresh_from_db()
    assert (r.status, r.allocated_quantity) == ("partially_allocated", D("4"))
    client.post(f"{url}allocate/", {"allocate-quantity": ""})  # all that remains
    r.refresh_from_db()
    assert (r.status, r.allocated_quantity) == ("allocated", D("10"))

    resp = client.post(f"{url}book/", {"book-rate": "0.09", "book-day_count": "ACT/360"})
    assert "The desk accepts at most 0.08" in client.get(resp["Location"]).content.decode()
    assert not Loan.objects.exists()

    client.post(f"{url}book/", {"book-rate": "0.06", "book-day_count": "ACT/360"})
    r.refresh_from_db()
    loan = Loan.objects.get()
    assert (r.status, r.loan_id, loan.counterparty_id) == ("booked", loan.pk, client_cp.pk)
    assert (loan.principal, loan.rate, loan.status) == (D("10"), D("0.06"), "pending_approval")

    detail = client.get(url).content.decode()
    assert f'href="/loans/{loan.pk}/"' in detail and "responded in 6 min" in detail
    for kind in ("Submitted", "Allocated", "Booked"):
        assert kind in detail
    portal = page(trader).get(PORTAL).content.decode()
    assert loan.reference in portal and "Pending approval" in portal
    assert f'href="/loans/{loan.pk}/"' not in portal  # the loan book is staff-only


def test_booking_sources_the_remainder_from_an_external_lender(page, ops, submit, stock, client_cp):
    stock("4")
    lender = CounterpartyFactory(code="LENDER1")
    r = submit("10", counterparty=client_cp)
    client = page(ops)
    client.post(f"{REQUESTS}{r.pk}/allocate/", {})
    client.post(
        f"{REQUESTS}{r.pk}/book/",
        {
            "book-day_count": "ACT/360",
            "book-external_lender": "LENDER1",
            "book-external_rate": "0.05",
        },
    )
    r.refresh_from_db()
    assert (r.status, r.allocated_quantity, r.sourced_quantity) == ("booked", D("4"), D("6"))
    ext = Loan.objects.get(pk=r.external_loan_id)
    assert (ext.direction, ext.counterparty_id, ext.principal) == ("borrow", lender.pk, D("6"))


def test_booking_without_a_client_asks_for_one(page, ops, submit, stock):
    stock("20")
    r = submit("1")
    client = page(ops)
    client.post(f"{REQUESTS}{r.pk}/allocate/", {})
    resp = client.post(f"{REQUESTS}{r.pk}/book/", {"book-day_count": "ACT/360"}, follow=True)
    assert "Name the counterparty" in resp.content.decode()
    r.refresh_from_db()
    assert r.status == "allocated" and not Loan.objects.exists()


def test_allocating_with_nothing_available_says_so(page, ops, submit):
    r = submit("1")
    resp = page(ops).post(f"{REQUESTS}{r.pk}/allocate/", {}, follow=True)
    assert "No BTC is available to allocate" in resp.content.decode()
    r.refresh_from_db()
    assert r.status == "submitted"


def test_reject_needs_a_reason_and_then_releases_the_allocation(page, ops, submit, stock):
    stock("20")
    r = submit("5")
    client = page(ops)
    client.post(f"{REQUESTS}{r.pk}/allocate/", {})
    resp = client.post(f"{REQUESTS}{r.pk}/reject/", {"reject-reason": ""}, follow=True)
    assert "Reject: reason: This field is required." in resp.content.decode()
    r.refresh_from_db()
    assert r.status == "allocated"
    client.post(f"{REQUESTS}{r.pk}/reject/", {"reject-reason": "desk over its limit"})
    r.refresh_from_db()
    assert (r.status, r.allocated_quantity, r.decision_reason) == (
        "rejected",
        0,
        "desk over its limit",
    )
    assert selectors.inventory([r.asset_id])[r.asset_id]["available"] == D("20")


# ---------------------------------------------------------------- queue and SLA


def test_the_queue_orders_by_priority_then_needed_by_and_shows_available(
    page, ops, submit, stock, trader_b
):
    stock("7")
    low = submit("1", urgency="low")
    soon = submit("1", urgency="critical", needed_by=NOW + timedelta(hours=2))
    later = submit("1", urgency="critical", needed_by=NOW + timedelta(hours=3))
    other = submit("9", user=trader_b, urgency="normal")
    closed = submit("1")
    services.borrow_request_cancel(actor=ops, request=closed, now=NOW)
    body = page(ops).get(QUEUE).content.decode()
    order = [body.index(f'data-request="{x.reference}"') for x in (soon, later, other, low)]
    assert order == sorted(order)
    assert f'data-request="{closed.reference}"' not in body
    assert "7 BTC" in body and "BASIS" in body and "DELTA1" in body
    assert 'class="num overdue" data-testid="available"' in body  # 9 wanted, 7 available


def test_the_sla_clock_counts_down_then_breaches_then_reports_the_response(
    page, ops, submit, stock, frozen
):
    stock("20")
    r = submit("1")
    client = page(ops)
    body = client.get(QUEUE).content.decode()
    assert 'data-deadline="2026-11-21T09:45:00+00:00"' in body and "due 09:45 UTC" in body
    assert 'data-testid="breached-count">0<' in body
    frozen.tick(timedelta(minutes=20))
    body = client.get(QUEUE).content.decode()
    assert 'class="countdown overdue"' in body and 'data-testid="breached-count">1<' in body
    client.post(f"{REQUESTS}{r.pk}/allocate/", {})
    body = client.get(f"{REQUESTS}{r.pk}/").content.decode()
    assert "responded in 20 min" in body
    rows = _csv(client.get(f"{REQUESTS}?export=csv"))
    assert rows[1][rows[0].index("SLA")] == "responded in 20 min (late)"


# ---------------------------------------------------------------- inventory


def test_the_inventory_page_shows_figures_history_and_exports(page, trader, ops, submit, stock):
    stock("20", buffer="5")
    AssetFactory(symbol="ETH", decimals=18)
    r = submit("4")
    services.borrow_request_allocate(actor=ops, request=r, now=NOW)
    resp = page(trader).get(INVENTORY)
    body = resp.content.decode()
    row = body[body.index('data-asset="BTC"') :]
    row = row[: row.index("</tr>")]
    for text in ("20 BTC", "5 BTC", "4 BTC", "11 BTC"):
        assert text in row
    assert resp.context["chart"]["labels"] == ["BTC", "ETH"]
    assert (
        resp.context["chart"]["allocated"][0] == 20.0 and resp.context["chart"]["buffer"][0] == 25.0
    )
    assert resp.context["history_symbols"] == ["BTC"]
    assert resp.context["history_rows"][0]["values"] == [D("20")]
    assert len(resp.context["history_rows"]) == 30
    assert "utilization-chart" in body and 'data-testid="forecast"' not in body
    rows = _csv(page(trader).get(f"{INVENTORY}?export=csv"))
    assert rows[0][:6] == ["Asset", "Lendable", "Buffer", "Allocated", "On loan", "Available"]
    assert rows[1][:6] == ["BTC", "20 BTC", "5 BTC", "4 BTC", "0 BTC", "11 BTC"]


def test_the_forecast_block_renders_when_the_context_carries_one(page, ops, monkeypatch):
    from loans.desk import views as desk_views

    original = desk_views.InventoryView.get_context_data
    forecast = [
        {
            "asset": "BTC",
            "method": "EWMA x weekday",
            "forecast": [
                {"date": NOW.date() + timedelta(days=k), "quantity": D("1.5")} for k in range(7)
            ],
            "forecast_total": D("10.5"),
            "backtest_days": 28,
            "backtest_wape_pct": D("31.2"),
        }
    ]

    def with_forecast(self, **kwargs):
        return {**original(self, **kwargs), "forecast": forecast}

    monkeypatch.setattr(desk_views.InventoryView, "get_context_data", with_forecast)
    body = page(ops).get(INVENTORY).content.decode()
    section = body[body.index('data-testid="forecast"') :]
    assert "next 7 days" in section and "EWMA x weekday" in section
    assert "31.2% WAPE over 28 days" in section and section.count(">1.5<") == 7


# ---------------------------------------------------------------- navigation and tiles


def test_nav_and_tiles_follow_the_role(page, trader, ops, submit):
    import loans.desk.ui  # noqa: F401  (the navigation, as DeskConfig.ready() registers it)

    submit("1")
    body = page(trader).get("/").content.decode()
    assert 'href="/loans/desk/portal/"' in body and 'href="/loans/desk/queue/"' not in body
    assert 'data-tile="desk.mine"' in body and 'data-tile="desk.open"' not in body
    body = page(ops).get("/").content.decode()
    assert 'href="/loans/desk/queue/"' in body and 'href="/loans/desk/portal/"' not in body
    assert 'data-tile="desk.open"' in body and 'data-tile="desk.sla"' in body


# ---------------------------------------------------------------- query counts


def _many(n, *, btc, users, client_cp, ops):
    for i in range(n):
        user = users[i % len(users)]
        r = services.borrow_request_submit(
            actor=user,
            asset=btc,
            quantity=D("1"),
            max_rate=D("0.08"),
            needed_by=NOW + timedelta(hours=5 + i),
            urgency="normal",
            expected_revenue_usd=D("1000"),
            purpose="p",
            now=NOW,
            counterparty=client_cp,
        )
        if i % 3 == 0:
            r = services.borrow_request_allocate(actor=ops, request=r, now=NOW)
        if i % 6 == 0:
            services.borrow_request_book(actor=ops, request=r, now=NOW)


def test_pages_run_a_bounded_number_of_queries(
    page, trader, trader_b, ops, btc, client_cp, stock, django_assert_max_num_queries
):
    stock("1000")
    AssetFactory(symbol="ETH", decimals=18)
    users = [trader, trader_b]
    kw = {"btc": btc, "users": users, "client_cp": client_cp, "ops": ops}
    _many(3, **kw)
    urls = {
        ops: [QUEUE, REQUESTS, f"{REQUESTS}?export=csv", INVENTORY, f"{INVENTORY}?export=csv"],
        trader: [PORTAL, REQUESTS, f"{REQUESTS}?export=csv"],
    }
    first = BorrowRequest.objects.order_by("pk").first()
    urls[ops].append(f"{REQUESTS}{first.pk}/")
    baseline = {}
    for user, pages in urls.items():
        client = page(user)
        client.get(REQUESTS)  # the login's own session writes stay out of the counts
        for url in pages:
            with CaptureQueriesContext(connection) as q:
                resp = client.get(url)
                if hasattr(resp, "streaming_content"):
                    b"".join(resp.streaming_content)
            baseline[(user.pk, url)] = len(q)
            assert len(q) <= 15, (url, len(q))
    DeskFactory(code="DESK3")
    _many(30, **kw)
    for user, pages in urls.items():
        client = page(user)
        client.get(REQUESTS)
        for url in pages:
            with django_assert_max_num_queries(baseline[(user.pk, url)]):
                resp = client.get(url)
                if hasattr(resp, "streaming_content"):
                    b"".join(resp.streaming_content)
