"""The submit and allocate path every desk client hits (quality.md's concurrency bench): the
answer is what a later read shows, 404s for ids that cannot exist, bounded queries, the locked
read, token use and prepared statements."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework import serializers

from financing.audit.models import AuthEvent
from loans.desk import services
from loans.desk.api import BorrowRequestSerializer
from loans.desk.models import Allocation, BorrowRequest
from tests.conftest import NOW

D = Decimal
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen")]

SUBMIT = {
    "asset": "btc",
    "quantity": "2.5",
    "max_rate": "0.0800",
    "tenor_days": 30,
    # Not UTC on the way in: the answer gives it in UTC, as a read of the stored row does.
    "needed_by": "2026-11-22T11:00:00+02:00",
    "urgency": "high",
    "expected_revenue_usd": "12000.50",
    "purpose": "client short",
}


def _generic(r: BorrowRequest) -> dict:
    """What DRF's own Serializer.to_representation makes of the declared fields."""
    ser = BorrowRequestSerializer()
    return dict(serializers.Serializer.to_representation(ser, r))


def _fresh(pk: int) -> BorrowRequest:
    return BorrowRequest.objects.select_related(
        "desk", "asset", "counterparty", "requested_by"
    ).get(pk=pk)


def test_submit_and_allocate_answer_what_a_read_shows(api, trader, ops, stock, client_cp):
    stock("100")
    created = api(trader).post(
        "/api/borrow-requests/", {**SUBMIT, "counterparty": "client1"}, format="json"
    )
    assert created.status_code == 201, created.json()
    body = created.json()
    assert body["needed_by"] == "2026-11-22T09:00:00Z"
    assert (body["asset"], body["quantity"], body["max_rate"]) == ("BTC", "2.5", "0.08")
    assert body["counterparty"] == "CLIENT1" and body["requested_by"] == trader.username
    assert body == api(trader).get(f"/api/borrow-requests/{body['id']}/").json()

    allocated = api(ops).post(f"/api/borrow-requests/{body['id']}/allocate/", {}, format="json")
    assert allocated.status_code == 200, allocated.json()
    assert allocated.json()["status"] == "allocated"
    assert allocated.json()["allocated_quantity"] == "2.5"
    assert allocated.json() == api(ops).get(f"/api/borrow-requests/{body['id']}/").json()


@pytest.mark.parametrize("pk", ["999999", "abc", "9" * 30, "0", "-1"])
def test_allocating_a_request_that_does_not_exist_is_404(api, ops, stock, pk):
    stock("100")
    resp = api(ops).post(f"/api/borrow-requests/{pk}/allocate/", {}, format="json")
    assert resp.status_code == 404, resp.content
    assert resp.json()["detail"]
    assert not Allocation.objects.exists()


def test_a_trading_user_cannot_allocate_even_its_own_request(api, trader, submit, stock):
    stock("100")
    r = submit("1")
    resp = api(trader).post(f"/api/borrow-requests/{r.pk}/allocate/", {}, format="json")
    assert resp.status_code == 403
    assert not Allocation.objects.exists()


def test_submit_and_allocate_run_a_fixed_number_of_queries(api, trader, ops, stock):
    stock("100")
    client, desk_ops = api(trader), api(ops)
    with CaptureQueriesContext(connection) as submitted:
        pk = client.post("/api/borrow-requests/", SUBMIT, format="json").json()["id"]
    with CaptureQueriesContext(connection) as allocated:
        resp = desk_ops.post(f"/api/borrow-requests/{pk}/allocate/", {}, format="json")
    assert resp.status_code == 200
    # submit: the user and its token use (one statement), asset, desk, then the request and its
    # event in one transaction (a savepoint and its release here, inside the test's own).
    assert len(submitted) <= 7, "\n".join(q["sql"][:70] for q in submitted)
    # allocate: the user and its token use, then (transaction) the locked request, the inventory
    # lock, treasury's figures, the committed figures, the allocation, the request, its event.
    assert len(allocated) <= 10, "\n".join(q["sql"][:70] for q in allocated)


def test_an_inactive_users_token_is_refused(api, trader, submit):
    client = api(trader)
    trader.is_active = False
    trader.save()
    assert client.get("/api/borrow-requests/").status_code == 401
    assert not AuthEvent.objects.filter(kind="token_used").exists()


def test_every_token_call_is_recorded_with_its_details(api, trader, submit):
    submit("1")
    api(trader).get("/api/borrow-requests/", HTTP_USER_AGENT="desk-client/1.0")
    event = AuthEvent.objects.get(kind="token_used")
    assert (event.user, event.username, event.method, event.path) == (
        trader,
        trader.username,
        "GET",
        "/api/borrow-requests/",
    )
    assert (event.user_agent, event.ip_address, event.at) == ("desk-client/1.0", "127.0.0.1", NOW)


@pytest.mark.parametrize("with_client", [True, False])
def test_the_locked_read_loads_what_the_orm_loads(submit, client_cp, with_client):
    from django.db import transaction

    r = submit("2", counterparty=client_cp if with_client else None, tenor_days=9)
    expected = _fresh(r.pk)
    with transaction.atomic():
        locked = services._locked(r.pk)
    for f in BorrowRequest._meta.concrete_fields:
        assert getattr(locked, f.attname) == getattr(expected, f.attname), f.name
    assert isinstance(locked.priority_detail, dict)
    for relation in ("asset", "desk", "requested_by", "counterparty"):
        got, want = getattr(locked, relation), getattr(expected, relation)
        assert got == want
        if want is not None:
            for f in type(want)._meta.concrete_fields:
                assert getattr(got, f.attname) == getattr(want, f.attname), (relation, f.name)
    assert not locked._state.adding and locked._state.db == "default"


def test_a_code_resolves_whatever_its_case_and_an_unknown_one_is_a_400(api, trader, btc):
    from financing.api.base import resolve_code
    from financing.errors import InvalidInput
    from financing.refdata.models import Asset

    assert resolve_code(Asset, "symbol", " bTc ", "asset") == btc
    assert resolve_code(Asset, "symbol", None, "asset") is None
    with pytest.raises(InvalidInput, match="Unknown asset 'NOPE'"):
        resolve_code(Asset, "symbol", "NOPE", "asset")
    resp = api(trader).post("/api/borrow-requests/", {**SUBMIT, "asset": "b\x00tc"}, format="json")
    assert resp.status_code == 400 and not BorrowRequest.objects.exists()


def test_request_auth_is_the_token(trader):
    from rest_framework.authtoken.models import Token
    from rest_framework.request import Request
    from rest_framework.test import APIRequestFactory

    from financing.audit.authentication import RecordingTokenAuthentication

    token = Token.objects.create(user=trader)
    raw = APIRequestFactory().get("/api/me/", HTTP_AUTHORIZATION=f"Token {token.key}")
    user, auth = RecordingTokenAuthentication().authenticate(Request(raw))
    assert user == trader and isinstance(auth, Token)
    assert (auth.key, auth.user) == (token.key, trader)


@pytest.mark.django_db(transaction=True)
def test_prepared_statements_survive_a_migration_adding_columns(api, trader, stock):
    """The hand-written statements list their columns: once prepared on a connection, they
    keep working when another process adds a column (a `SELECT *` would fail with "cached plan
    must not change result type" until the connection is replaced)."""
    import psycopg

    stock("100")
    client = api(trader)
    for _ in range(3):  # prepared from the second run on
        assert client.post("/api/borrow-requests/", SUBMIT, format="json").status_code == 201
    settings = connection.settings_dict
    other = psycopg.connect(
        dbname=settings["NAME"],
        user=settings["USER"],
        host=settings["HOST"],
        port=settings["PORT"] or None,
        password=settings["PASSWORD"] or None,
        autocommit=True,
    )
    tables = ("accounts_user", "refdata_asset")
    try:
        for table in tables:
            other.execute(f"ALTER TABLE {table} ADD COLUMN added_by_a_migration integer")
        assert client.post("/api/borrow-requests/", SUBMIT, format="json").status_code == 201
        assert client.get("/api/borrow-requests/").status_code == 200
    finally:
        for table in tables:
            other.execute(f"ALTER TABLE {table} DROP COLUMN IF EXISTS added_by_a_migration")
        other.close()


def test_the_answer_is_drfs_own_over_the_declared_fields_built_once(submit, client_cp):
    """One definition: the declared fields make the answer, as a plain DRF serializer with the
    same fields answers; they are bound once per class, not copied for every answer."""
    import copy

    from rest_framework import serializers

    r = _fresh(submit("2", counterparty=client_cp, tenor_days=9).pk)
    one, two = BorrowRequestSerializer(r), BorrowRequestSerializer(r)
    assert one.fields is two.fields
    plain = type(
        "Plain",
        (serializers.Serializer,),
        {
            **copy.deepcopy(dict(BorrowRequestSerializer._declared_fields)),
            "get_sla_breached": BorrowRequestSerializer.get_sla_breached,
        },
    )
    assert one.data == plain(r).data
    assert one.data["counterparty"] == "CLIENT1" and one.data["quantity"] == "2"
