"""The borrow desk: priority, desk isolation, allocation that never over-allocates, booking
through the loan services, expiry, and inventory figures."""

from __future__ import annotations

import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection

from financing.errors import Conflict, Forbidden, InvalidInput
from loans.desk import selectors, services
from loans.desk.models import Allocation, BorrowRequest
from loans.models import Loan
from tests.conftest import NOW

D = Decimal
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen")]


def test_priority_is_documented_arithmetic(submit):
    r = submit(urgency="high", expected_revenue_usd=D("99000"), needed_by=NOW + timedelta(hours=3))
    # high 40 + revenue 5 x log10(1 + 99) = 10 + medium desk 10 + within 4 h 10 = 70
    assert r.priority == D("70.00")
    assert r.priority_detail == {"urgency": 40, "revenue": "10.00", "desk_risk": 10, "time": 10}
    assert r.sla_due_at == NOW + timedelta(minutes=15) and r.status == "submitted"


def test_only_trading_users_submit_and_bad_input_writes_nothing(submit, ops):
    with pytest.raises(Forbidden):
        submit(user=ops)
    for bad in (
        {"quantity": D("0")},
        {"quantity": D("0.000000001")},
        {"needed_by": NOW - timedelta(minutes=1)},
        {"urgency": "yesterday"},
        {"max_rate": D("9")},
        {"purpose": "  "},
    ):
        with pytest.raises(InvalidInput):
            submit(**bad)
    assert not BorrowRequest.objects.exists()


def test_allocation_full_partial_and_none(submit, stock, ops, btc):
    stock("25", buffer="5")  # 20 available
    a = services.borrow_request_allocate(actor=ops, request=submit("12"), now=NOW)
    assert (a.status, a.allocated_quantity) == ("allocated", D("12"))
    b = services.borrow_request_allocate(actor=ops, request=submit("10"), now=NOW)
    assert (b.status, b.allocated_quantity) == ("partially_allocated", D("8"))
    with pytest.raises(Conflict, match="No BTC is available"):
        services.borrow_request_allocate(actor=ops, request=submit("1"), now=NOW)
    inv = selectors.inventory([btc.pk])[btc.pk]
    assert inv == {
        "lendable": D("25"),
        "buffer": D("5"),
        "allocated": D("20"),
        "on_loan": D("0"),
        "available": D("0"),
        "shortfall": D("0"),
        "utilization": D("0"),
    }


@pytest.mark.django_db(transaction=True)
def test_concurrent_allocations_never_over_allocate(submit, stock, ops, btc):
    stock("50")
    requests = [submit("7") for _ in range(12)]  # 84 wanted, 50 lendable
    errors, barrier = [], threading.Barrier(len(requests))

    def run(r):
        try:
            barrier.wait(timeout=10)
            services.borrow_request_allocate(actor=ops, request=r, now=NOW)
        except Conflict:
            pass
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(r,)) for r in requests]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors
    total = sum(a.quantity for a in Allocation.objects.all())
    assert total == D("50")
    assert selectors.inventory([btc.pk])[btc.pk]["available"] == 0


def test_booking_creates_the_loan_with_the_right_terms(submit, stock, ops, client_cp, btc):
    stock("100")
    r = submit("10", tenor_days=30, counterparty=client_cp)
    services.borrow_request_allocate(actor=ops, request=r, now=NOW)
    r = services.borrow_request_book(actor=ops, request=r, now=NOW, rate=D("0.06"))
    loan = Loan.objects.get(pk=r.loan_id)
    assert (loan.status, loan.direction, loan.principal, loan.rate) == (
        "pending_approval",
        "lend",
        D("10"),
        D("0.06"),
    )
    assert (loan.counterparty, loan.desk_id, loan.term) == (client_cp, r.desk_id, "fixed")
    assert loan.maturity_date == NOW.date() + timedelta(days=30)
    assert r.status == "booked"
    # Still counted as allocated until the loan is approved, then as on loan.
    assert selectors.inventory([btc.pk])[btc.pk]["allocated"] == D("10")


def test_the_remainder_is_sourced_from_an_external_lender(submit, stock, ops, client_cp, btc):
    from tests.factories import CounterpartyFactory

    lender = CounterpartyFactory(code="LENDER1")
    stock("4")
    r = submit("10", counterparty=client_cp)
    services.borrow_request_allocate(actor=ops, request=r, now=NOW)
    r = services.borrow_request_book(
        actor=ops, request=r, now=NOW, external_lender=lender, external_rate=D("0.05")
    )
    ext = Loan.objects.get(pk=r.external_loan_id)
    assert (ext.direction, ext.principal, ext.counterparty) == ("borrow", D("6"), lender)
    assert r.sourced_quantity == D("6")


def test_kyc_gate_applies_when_booking(submit, stock, ops, btc):
    from tests.factories import CounterpartyFactory

    stale = CounterpartyFactory(code="STALE1", kyc_status="expired")
    stock("100")
    r = submit("10", counterparty=stale)
    services.borrow_request_allocate(actor=ops, request=r, now=NOW)
    with pytest.raises(InvalidInput):
        services.borrow_request_book(actor=ops, request=r, now=NOW)
    r.refresh_from_db()
    assert r.status == "allocated" and not Loan.objects.exists()


def test_expiry_releases_the_allocation(submit, stock, ops, btc):
    stock("10")
    r = submit("10", needed_by=NOW + timedelta(hours=1))
    services.borrow_request_allocate(actor=ops, request=r, now=NOW)
    assert services.borrow_requests_expire(now=NOW + timedelta(minutes=59)) == 0
    assert services.borrow_requests_expire(now=NOW + timedelta(hours=1)) == 1
    r.refresh_from_db()
    assert (r.status, r.allocated_quantity) == ("expired", 0)
    assert selectors.inventory([btc.pk])[btc.pk]["available"] == D("10")


def test_cancel_own_desk_only_and_reject_needs_a_reason(submit, trader_b, ops):
    r = submit("1")
    with pytest.raises(Forbidden):
        services.borrow_request_cancel(actor=trader_b, request=r, now=NOW)
    with pytest.raises(InvalidInput):
        services.borrow_request_reject(actor=ops, request=r, now=NOW, reason=" ")
    r = services.borrow_request_reject(actor=ops, request=r, now=NOW, reason="no inventory soon")
    assert r.status == "rejected" and r.first_response_at == NOW


def test_desk_isolation_in_the_api(api, submit, trader, trader_b, ops):
    r = submit("1")
    assert api(trader).get("/api/borrow-requests/").json()["count"] == 1
    assert api(trader_b).get("/api/borrow-requests/").json()["count"] == 0
    assert api(trader_b).get(f"/api/borrow-requests/{r.pk}/").status_code == 404
    assert api(ops).get("/api/borrow-requests/").json()["count"] == 1
    assert (
        api(trader_b).post(f"/api/borrow-requests/{r.pk}/cancel/", {}, format="json").status_code
        == 404
    )


def test_submit_allocate_and_inventory_through_the_api(api, trader, ops, stock, btc):
    stock("30", buffer="10")
    r = api(trader).post(
        "/api/borrow-requests/",
        {
            "asset": "BTC",
            "quantity": "25",
            "max_rate": "0.08",
            "needed_by": "2026-11-22T09:00:00Z",
            "urgency": "critical",
            "expected_revenue_usd": "250000",
            "purpose": "client short",
        },
        format="json",
    )
    assert r.status_code == 201, r.json()
    body = r.json()
    assert body["status"] == "submitted" and body["priority"]
    r = api(ops).post(f"/api/borrow-requests/{body['id']}/allocate/", {}, format="json")
    assert r.status_code == 200 and r.json()["status"] == "partially_allocated"
    assert r.json()["allocated_quantity"] == "20"
    assert (
        api(ops).post(f"/api/borrow-requests/{body['id']}/allocate/", {}, format="json").status_code
        == 409
    )
    inv = {row["asset"]: row for row in api(trader).get("/api/inventory/").json()["results"]}
    assert inv["BTC"]["available"] == "0" and inv["BTC"]["allocated"] == "20"
    assert (
        api(trader)
        .post(f"/api/borrow-requests/{body['id']}/allocate/", {}, format="json")
        .status_code
        == 403
    )


@pytest.mark.parametrize(
    "body, field",
    [
        ({"quantity": 5}, "quantity"),
        ({"quantity": "-1"}, "quantity"),
        ({"asset": "NOPE"}, "asset"),
        ({"needed_by": "soon"}, "needed_by"),
        ({"urgency": "now"}, "urgency"),
        ({"tenor_days": 0}, "tenor_days"),
        ({"extra": "x"}, "extra"),
    ],
)
def test_bad_submissions_are_400_and_write_nothing(api, trader, btc, body, field):
    base = {
        "asset": "BTC",
        "quantity": "1",
        "max_rate": "0.08",
        "needed_by": "2026-11-22T09:00:00Z",
        "urgency": "normal",
        "expected_revenue_usd": "1000",
        "purpose": "x",
    }
    r = api(trader).post("/api/borrow-requests/", {**base, **body}, format="json")
    assert r.status_code == 400 and field in r.json()
    assert not BorrowRequest.objects.exists()


def test_sla_breach_raises_one_alert_per_late_request(submit, ops):
    from financing.alerts.models import Alert

    late = submit("1")
    answered = submit("2")
    services.borrow_request_reject(actor=ops, request=answered, now=NOW, reason="not today")
    assert services.borrow_requests_sla_check(now=NOW + timedelta(minutes=14)) == 0
    assert services.borrow_requests_sla_check(now=NOW + timedelta(minutes=15)) == 1
    assert services.borrow_requests_sla_check(now=NOW + timedelta(minutes=16)) == 1
    alert = Alert.objects.get(kind="borrow_sla_breach")
    assert alert.dedupe_key == f"borrow_sla:{late.pk}" and alert.occurrences == 2


def test_queue_order_is_priority_then_needed_by(api, submit, ops):
    low = submit("1", urgency="low")
    critical = submit("1", urgency="critical")
    high_soon = submit("1", urgency="high", needed_by=NOW + timedelta(hours=2))
    ids = [r["id"] for r in api(ops).get("/api/borrow-requests/").json()["results"]]
    assert ids == [critical.pk, high_soon.pk, low.pk]


def test_a_refused_loan_rejects_the_request_and_frees_its_inventory(
    submit, stock, ops, risk, client_cp, btc
):
    from financing.approvals.services import approval_reject

    stock("20")
    r = submit("10", counterparty=client_cp)
    services.borrow_request_allocate(actor=ops, request=r, now=NOW)
    r = services.borrow_request_book(actor=ops, request=r, now=NOW)
    assert selectors.inventory([btc.pk])[btc.pk]["available"] == D("10")
    loan = Loan.objects.get(pk=r.loan_id)
    approval_reject(approval_id=loan.approval_id, checker=risk, now=NOW, reason="rate too low")
    r.refresh_from_db()
    assert r.status == "rejected" and r.allocated_quantity == 0
    assert "rejected" in r.decision_reason
    assert selectors.inventory([btc.pk])[btc.pk]["available"] == D("20")


def test_refusing_the_lend_loan_withdraws_the_external_loan_booked_beside_it(
    submit, stock, ops, risk, client_cp, btc
):
    """Booked as both loans or neither: the lend loan refused, the external borrow loan still
    waiting for approval is withdrawn with it and the sourced quantity released."""
    from financing.approvals.models import ApprovalRequest
    from financing.approvals.services import approval_reject
    from tests.factories import CounterpartyFactory

    lender = CounterpartyFactory(code="LENDER1")
    stock("4")
    r = submit("10", counterparty=client_cp)
    services.borrow_request_allocate(actor=ops, request=r, now=NOW)
    r = services.borrow_request_book(
        actor=ops, request=r, now=NOW, external_lender=lender, external_rate=D("0.05")
    )
    lend, ext = Loan.objects.get(pk=r.loan_id), Loan.objects.get(pk=r.external_loan_id)
    approval_reject(approval_id=lend.approval_id, checker=risk, now=NOW, reason="rate too low")

    ext.refresh_from_db()
    r.refresh_from_db()
    assert ext.status == "rejected"
    assert ApprovalRequest.objects.get(pk=ext.approval_id).status == "cancelled"
    assert r.status == "rejected"
    assert (r.allocated_quantity, r.sourced_quantity) == (0, 0)
    kinds = list(r.events.values_list("kind", flat=True))
    assert kinds[-2:] == ["external_loan_refused", "loan_refused"]
    assert selectors.inventory([btc.pk])[btc.pk]["available"] == D("4")


def test_an_sla_alert_resolves_once_the_request_has_its_first_response(submit, ops, stock):
    from financing.alerts.models import Alert

    stock("100")
    late = submit("1")
    gone = submit("2")
    assert services.borrow_requests_sla_check(now=NOW + timedelta(minutes=15)) == 2
    services.borrow_request_allocate(actor=ops, request=late, now=NOW + timedelta(minutes=16))
    services.borrow_request_cancel(
        actor=gone.requested_by, request=gone, now=NOW + timedelta(minutes=16)
    )
    assert services.borrow_requests_sla_check(now=NOW + timedelta(minutes=17)) == 0
    assert services.borrow_requests_sla_check(now=NOW + timedelta(minutes=18)) == 0
    for r in (late, gone):
        alert = Alert.objects.get(dedupe_key=f"borrow_sla:{r.pk}")
        assert alert.status == "resolved" and alert.occurrences == 1
