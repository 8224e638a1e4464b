"""The loans API contract (api.md, Loans): shapes, statuses, approvals, bad input, roles."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from financing.approvals.models import ApprovalRequest
from loans.accrual import accruals_book_through
from loans.models import Accrual, Loan, LoanEvent
from tests.conftest import ROLES
from tests.factories import CounterpartyFactory, UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen")]


def body(**over):
    data = {
        "counterparty": "ACME",
        "direction": "lend",
        "asset": "BTC",
        "principal": "10",
        "rate": "0.05",
        "day_count": "ACT/365F",
        "term": "open",
        "start_date": "2026-11-01",
        "recall_notice_days": 2,
    }
    data.update(over)
    return {k: v for k, v in data.items() if v is not None}


@pytest.fixture
def booked(api, maker, btc, cp):
    resp = api(maker).post("/api/loans/", body(), format="json")
    assert resp.status_code == 201, resp.json()
    return resp.json()


def test_booking_answers_201_pending_with_its_approval(booked):
    assert booked["status"] == "pending_approval"
    assert booked["approval"] is not None
    assert booked["principal"] == "10" and booked["rate"] == "0.05"
    assert ApprovalRequest.objects.get(pk=booked["approval"]).action == "loan.book"


def test_approval_by_another_user_makes_it_active(api, booked, maker, checker):
    assert api(maker).post(f"/api/approvals/{booked['approval']}/approve/").status_code == 403
    resp = api(checker).post(f"/api/approvals/{booked['approval']}/approve/", {}, format="json")
    assert resp.status_code == 200, resp.json()
    loan = api(checker).get(f"/api/loans/{booked['id']}/").json()
    assert loan["status"] == "active"
    kinds = list(LoanEvent.objects.filter(loan_id=booked["id"]).values_list("kind", flat=True))
    assert kinds == ["booked", "submitted", "approved"]


@pytest.mark.parametrize("kyc", ["pending", "rejected", "restricted", "expired"])
def test_booking_for_a_counterparty_without_current_kyc_fails_and_writes_nothing(
    api, maker, btc, kyc
):
    CounterpartyFactory(code="NOKYC", kyc_status=kyc)
    before = (Loan.objects.count(), ApprovalRequest.objects.count())
    resp = api(maker).post("/api/loans/", body(counterparty="NOKYC"), format="json")
    assert resp.status_code == 400
    assert "KYC" in resp.json()["counterparty"][0]
    assert (Loan.objects.count(), ApprovalRequest.objects.count()) == before


def test_booking_with_expired_kyc_date_is_refused(api, maker, btc):
    CounterpartyFactory(code="OLD", kyc_status="approved", kyc_expires_on=date(2026, 11, 20))
    resp = api(maker).post("/api/loans/", body(counterparty="OLD"), format="json")
    assert resp.status_code == 400 and "expired" in resp.json()["counterparty"][0]
    assert not Loan.objects.exists()


BAD = [
    ({"principal": 10}, "principal"),
    ({"principal": "-1"}, "principal"),
    ({"principal": "0"}, "principal"),
    ({"principal": "abc"}, "principal"),
    ({"principal": "1.123456789"}, "principal"),  # BTC has 8 decimals
    ({"principal": "1e400"}, "principal"),
    ({"rate": "7"}, "rate"),
    ({"rate": "-0.01"}, "rate"),
    ({"rate": 0.05}, "rate"),
    ({"asset": "NOPE"}, "asset"),
    ({"counterparty": "NOPE"}, "counterparty"),
    ({"direction": "sideways"}, "direction"),
    ({"day_count": "ACT/999"}, "day_count"),
    ({"term": "forever"}, "term"),
    ({"start_date": "2026-13-01"}, "start_date"),
    ({"start_date": "yesterday"}, "start_date"),
    ({"start_date": "2020-01-01"}, "start_date"),
    ({"term": "fixed", "recall_notice_days": None}, "maturity_date"),
    ({"term": "fixed", "maturity_date": "2026-10-01", "recall_notice_days": None}, "maturity_date"),
    ({"maturity_date": "2027-01-01"}, "maturity_date"),
    ({"recall_notice_days": -1}, "recall_notice_days"),
    ({"recall_notice_days": "2"}, "recall_notice_days"),
    ({"margin": {"call_ltv": "0.9", "liquidation_ltv": "0.8"}}, "margin"),
    ({"margin": {"call_ltv": 0.9}}, "margin"),
    ({"desk": "NODESK"}, "desk"),
    ({"surprise": "x"}, "surprise"),
    ({"external_ref": "x" * 101}, "external_ref"),
]


@pytest.mark.parametrize(("change", "field"), BAD)
def test_bad_booking_input_is_400_naming_the_field_and_writes_nothing(
    api, maker, btc, cp, change, field
):
    resp = api(maker).post("/api/loans/", body(**change), format="json")
    assert resp.status_code == 400, resp.content
    assert field in resp.json(), resp.json()
    assert not Loan.objects.exists() and not ApprovalRequest.objects.exists()


def test_non_object_bodies_are_400(api, maker, btc, cp):
    for payload in (["x"], "x", None, 12):
        resp = api(maker).post("/api/loans/", payload, format="json")
        assert resp.status_code == 400
    assert not Loan.objects.exists()


@pytest.fixture
def active(api, booked, checker):
    api(checker).post(f"/api/approvals/{booked['approval']}/approve/", {}, format="json")
    return booked["id"]


def test_rate_change_needs_approval_and_backdated_restates(api, active, maker, checker):
    accruals_book_through(through=date(2026, 11, 20), now=_now())
    resp = api(maker).post(
        f"/api/loans/{active}/rate-changes/",
        {"rate": "0.08", "effective_date": "2026-11-11"},
        format="json",
    )
    assert resp.status_code == 202 and resp.json()["status"] == "pending"
    assert api(maker).get(f"/api/loans/{active}/").json()["rate"] == "0.05"
    api(checker).post(f"/api/approvals/{resp.json()['approval']}/approve/", {}, format="json")
    loan = api(maker).get(f"/api/loans/{active}/").json()
    assert loan["rate"] == "0.08" and loan["restatement_pending_from"] == "2026-11-11"
    accruals_book_through(through=date(2026, 11, 20), now=_now())
    rows = api(maker).get(f"/api/loans/{active}/accruals/?page_size=100").json()
    kinds = [r["kind"] for r in rows["results"]]
    assert kinds.count("accrual") == 20 and kinds.count("adjustment") == 10
    adj = next(r for r in rows["results"] if r["kind"] == "adjustment")
    assert "rate change" in adj["cause"] and adj["rate"] == "0.08"


def _now():
    from financing import clock

    return clock.now()


@pytest.mark.parametrize(
    "payload",
    [
        {"rate": "0.08"},
        {"rate": "0.08", "effective_date": "2026-10-01"},  # before the start
        {"rate": "9", "effective_date": "2026-11-11"},
        {"rate": 0.08, "effective_date": "2026-11-11"},
        {"rate": "0.08", "effective_date": "2026-11-11", "extra": 1},
    ],
)
def test_bad_rate_change_is_400_and_requests_nothing(api, active, maker, payload):
    before = ApprovalRequest.objects.count()
    resp = api(maker).post(f"/api/loans/{active}/rate-changes/", payload, format="json")
    assert resp.status_code == 400, resp.json()
    assert ApprovalRequest.objects.count() == before


def test_repayment_partial_then_full_stops_accrual(api, active, maker):
    r = api(maker).post(
        f"/api/loans/{active}/repayments/", {"amount": "4", "date": "2026-11-10"}, format="json"
    )
    assert r.status_code == 201 and r.json()["outstanding_principal"] == "6"
    r = api(maker).post(
        f"/api/loans/{active}/repayments/", {"amount": "6", "date": "2026-11-15"}, format="json"
    )
    assert r.json()["outstanding_principal"] == "0" and r.json()["end_date"] == "2026-11-15"
    accruals_book_through(through=date(2026, 11, 20), now=_now())
    assert Accrual.objects.filter(loan_id=active).count() == 14


@pytest.mark.parametrize(
    "payload",
    [
        {"amount": "11", "date": "2026-11-10"},
        {"amount": "0", "date": "2026-11-10"},
        {"amount": "-1", "date": "2026-11-10"},
        {"amount": "1", "date": "2026-11-22"},  # future
        {"amount": "1", "date": "2026-10-01"},  # before start
        {"amount": "0.000000001", "date": "2026-11-10"},
        {"amount": "1"},
    ],
)
def test_bad_repayment_is_400_and_writes_nothing(api, active, maker, payload):
    resp = api(maker).post(f"/api/loans/{active}/repayments/", payload, format="json")
    assert resp.status_code == 400, resp.json()
    assert Loan.objects.get(pk=active).outstanding_principal == Decimal("10")


def test_settlement_rounds_to_asset_decimals_and_carries_the_rest(api, active, maker):
    accruals_book_through(through=date(2026, 11, 20), now=_now())
    resp = api(maker).post(
        f"/api/loans/{active}/interest-settlements/", {"date": "2026-11-21"}, format="json"
    )
    assert resp.status_code == 201, resp.json()
    s = resp.json()
    booked = sum(Accrual.objects.filter(loan_id=active).values_list("amount", flat=True))
    assert Decimal(s["amount"]) + Decimal(s["carried"]) == booked
    assert Decimal(s["amount"]) == booked.quantize(Decimal("1e-8"), rounding="ROUND_DOWN")
    loan = api(maker).get(f"/api/loans/{active}/").json()
    assert Decimal(loan["accrued_interest"]) == Decimal(s["carried"])


def test_settlement_before_accrual_is_a_409(api, active, maker):
    resp = api(maker).post(
        f"/api/loans/{active}/interest-settlements/", {"date": "2026-11-21"}, format="json"
    )
    assert resp.status_code == 409


def test_recall_sets_due_date_from_notice(api, active, maker):
    resp = api(maker).post(f"/api/loans/{active}/recall/", {}, format="json")
    assert resp.status_code == 200
    assert resp.json()["status"] == "recalled" and resp.json()["recall_due_date"] == "2026-11-23"
    again = api(maker).post(f"/api/loans/{active}/recall/", {}, format="json")
    assert again.status_code == 409


def test_history_lists_versions(api, active, maker):
    resp = api(maker).get(f"/api/loans/{active}/history/")
    assert resp.status_code == 200 and resp.json()["count"] >= 3


def test_list_filters_and_runs_a_fixed_number_of_queries(api, maker, book, usdc):
    for _ in range(3):
        book()
    book(asset=usdc, principal=Decimal("1000"))
    client = api(maker)
    client.get("/api/loans/")  # warm caches (content types, token)
    with CaptureQueriesContext(connection) as few:
        r = client.get("/api/loans/?asset=BTC&status=active")
    assert r.json()["count"] == 3
    for _ in range(6):
        book()
    with CaptureQueriesContext(connection) as many:
        r = client.get("/api/loans/?asset=BTC&status=active")
    assert r.json()["count"] == 9
    assert len(many) == len(few)


def test_bad_filter_values_are_400(api, maker):
    assert api(maker).get("/api/loans/?status=bogus").status_code == 400
    assert api(maker).get("/api/loans/abc/").status_code == 404


ENDPOINTS = [
    ("get", "/api/loans/", None, "loans.view"),
    ("post", "/api/loans/", "book", "loans.book"),
    ("get", "/api/loans/{id}/", None, "loans.view"),
    ("get", "/api/loans/{id}/accruals/", None, "loans.view"),
    ("get", "/api/loans/{id}/history/", None, "loans.view"),
    (
        "post",
        "/api/loans/{id}/rate-changes/",
        {"rate": "0.06", "effective_date": "2026-11-21"},
        "loans.rate_change",
    ),
    ("post", "/api/loans/{id}/repayments/", {"amount": "1", "date": "2026-11-21"}, "loans.service"),
    ("post", "/api/loans/{id}/recall/", {}, "loans.service"),
    ("post", "/api/loans/{id}/default/", {"reason": "missed payment"}, "loans.default"),
]


@pytest.mark.parametrize("role", [*ROLES, "anonymous"])
@pytest.mark.parametrize(("method", "path", "payload", "capability"), ENDPOINTS)
def test_permission_matrix(api, active, role, method, path, payload, capability):
    from financing.accounts.roles import MATRIX

    user = None if role == "anonymous" else UserFactory(role=role)
    if payload == "book":
        payload = body()
    client = api(user)
    resp = getattr(client, method)(path.format(id=active), payload, format="json")
    if role == "anonymous":
        assert resp.status_code == 401
    elif role in MATRIX[capability]:
        assert resp.status_code in (200, 201, 202), (role, path, resp.content)
    else:
        assert resp.status_code == 403, (role, path, resp.content)


@pytest.mark.parametrize(
    ("action", "payload"),
    [
        ("interest-settlements", {}),
        ("interest-settlements", {"date": "not-a-date"}),
        ("interest-settlements", {"date": "2026-11-30"}),  # future
        ("interest-settlements", {"date": "2026-11-21", "amount": "1"}),
        ("recall", {"notice_days": "3"}),
        ("recall", {"notice_days": 400}),
        ("recall", {"notice_days": -1}),
        ("default", {}),
        ("default", {"reason": ""}),
        ("default", {"reason": 5}),
        ("liquidation", {"proceeds": "1", "date": "2026-11-20"}),  # not defaulted: 409 below
        ("write-off", {}),
        ("close", {"reason": ["x"]}),
    ],
)
def test_bad_servicing_input_is_refused_and_changes_nothing(api, active, maker, action, payload):
    before = (
        Loan.objects.get(pk=active).status,
        ApprovalRequest.objects.count(),
        LoanEvent.objects.count(),
    )
    resp = api(maker).post(f"/api/loans/{active}/{action}/", payload, format="json")
    assert resp.status_code in (400, 409), resp.content
    if action != "liquidation":
        assert resp.status_code == 400, resp.json()
    after = (
        Loan.objects.get(pk=active).status,
        ApprovalRequest.objects.count(),
        LoanEvent.objects.count(),
    )
    assert after == before


def test_default_liquidation_write_off_and_close(api, active, maker, checker):
    client = api(maker)
    assert client.post(f"/api/loans/{active}/close/", {}, format="json").status_code == 409
    r = client.post(
        f"/api/loans/{active}/default/", {"reason": "missed margin call"}, format="json"
    )
    assert r.status_code == 200 and r.json()["status"] == "defaulted"
    r = client.post(
        f"/api/loans/{active}/liquidation/", {"proceeds": "4", "date": "2026-11-20"}, format="json"
    )
    assert r.status_code == 200 and r.json()["status"] == "liquidated"
    assert r.json()["outstanding_principal"] == "6"
    r = client.post(f"/api/loans/{active}/write-off/", {"reason": "unrecoverable"}, format="json")
    assert r.status_code == 202
    dup = client.post(f"/api/loans/{active}/write-off/", {"reason": "again"}, format="json")
    assert dup.status_code == 409
    api(checker).post(f"/api/approvals/{r.json()['approval']}/approve/", {}, format="json")
    loan = client.get(f"/api/loans/{active}/").json()
    assert loan["status"] == "written_off" and loan["outstanding_principal"] == "0"
    r = client.post(f"/api/loans/{active}/close/", {}, format="json")
    assert r.status_code == 200 and r.json()["status"] == "closed"
    kinds = list(LoanEvent.objects.filter(loan_id=active).values_list("kind", flat=True))
    assert kinds[-5:] == ["defaulted", "liquidated", "write_off_requested", "written_off", "closed"]


def test_idempotency_key_replays_a_booking(api, maker, btc, cp):
    client = api(maker)
    first = client.post("/api/loans/", body(), format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    again = client.post("/api/loans/", body(), format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert first.status_code == again.status_code == 201
    assert first.json()["id"] == again.json()["id"] and Loan.objects.count() == 1
    other = client.post(
        "/api/loans/", body(principal="11"), format="json", HTTP_IDEMPOTENCY_KEY="k-1"
    )
    assert other.status_code == 409 and Loan.objects.count() == 1


def test_list_pages_and_orders_like_any_list(api, maker, book):
    loans = [book(principal=Decimal(n)) for n in (3, 1, 2)]
    client = api(maker)
    newest_first = [r["id"] for r in client.get("/api/loans/").json()["results"]]
    assert newest_first == [loan.pk for loan in reversed(loans)]
    by_principal = client.get("/api/loans/?ordering=principal").json()["results"]
    assert [r["principal"] for r in by_principal] == ["1", "2", "3"]
    page2 = client.get("/api/loans/?page_size=2&page=2").json()
    assert page2["count"] == 3 and [r["id"] for r in page2["results"]] == [loans[0].pk]
    assert page2["results"][0]["accrued_interest"] == "0"
