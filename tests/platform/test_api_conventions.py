"""The API's conventions (api.md): token auth, 401 everywhere without credentials, /healthz,
the OpenAPI schema and docs, pagination, filters, decimals as strings."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.test import Client
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

from financing import clock
from financing.accounts.roles import Role
from financing.api.fields import AmountField
from financing.approvals.models import ApprovalRequest
from financing.jobs.models import JobRun
from tests.factories import AssetFactory, CounterpartyFactory

PASSWORD = "pw-for-tests-2026"  # tests.factories.UserFactory's password


@pytest.fixture
def ops(make_user):
    return make_user(Role.OPS, username="ops-conventions")


# --- token ------------------------------------------------------------------------------------


def test_token_endpoint_returns_a_token_that_authenticates(ops):
    client = APIClient()
    resp = client.post(
        "/api/auth/token/", {"username": ops.username, "password": PASSWORD}, format="json"
    )

    assert resp.status_code == 200
    token = resp.json()["token"]
    assert re.fullmatch(r"[0-9a-f]{40}", token)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    me = client.get("/api/me/").json()
    assert (me["username"], me["role"], me["desk"]) == (ops.username, "ops", None)
    assert "refdata.manage" in me["capabilities"]


def test_the_same_user_gets_the_same_token_twice(ops):
    client = APIClient()
    body = {"username": ops.username, "password": PASSWORD}
    first = client.post("/api/auth/token/", body, format="json").json()["token"]
    assert client.post("/api/auth/token/", body, format="json").json()["token"] == first


@pytest.mark.parametrize(
    "body",
    [{"password": "x"}, {"username": "x"}, {}],
    ids=["no-username", "no-password", "empty"],
)
def test_token_endpoint_without_credentials_fields_is_400(db, body):
    resp = APIClient().post("/api/auth/token/", body, format="json")
    assert resp.status_code == 400
    missing = {"username", "password"} - set(body)
    assert missing <= set(resp.json())


def test_token_endpoint_with_a_wrong_password_is_401(ops):
    resp = APIClient().post(
        "/api/auth/token/", {"username": ops.username, "password": "wrong"}, format="json"
    )
    assert resp.status_code == 401
    assert "token" not in resp.json()
    assert resp.json()["detail"]


def test_token_endpoint_refuses_an_inactive_user(ops):
    ops.is_active = False
    ops.save()
    resp = APIClient().post(
        "/api/auth/token/", {"username": ops.username, "password": PASSWORD}, format="json"
    )
    assert resp.status_code == 401


def test_an_invalid_token_is_401(db):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token " + "0" * 40)
    assert client.get("/api/me/").status_code == 401


def test_a_session_authenticates_the_api_too(page, ops):
    assert page(ops).get("/api/me/").json()["username"] == ops.username


# --- anonymous --------------------------------------------------------------------------------


def _api_operations() -> list[tuple[str, str]]:
    """Every (method, path) the OpenAPI schema documents, path parameters filled in."""
    schema = SchemaGenerator().get_schema(request=None, public=True)
    ops = []
    for path, item in schema["paths"].items():
        concrete = re.sub(r"\{[^}]+\}", "1", path)
        for method in item:
            if method in {"get", "post", "put", "patch", "delete"}:
                ops.append((method, concrete))
    return ops


def test_anonymous_gets_401_on_every_api_path_except_the_token_endpoint(db):
    operations = _api_operations()
    paths = {p for _, p in operations}
    assert {"/api/assets/", "/api/approvals/1/approve/", "/api/jobs/1/run/"} <= paths
    assert "/api/auth/token/" in paths

    client = APIClient()
    wrong = {}
    for method, path in operations:
        if path == "/api/auth/token/":
            continue
        resp = getattr(client, method)(path, {}, format="json")
        if resp.status_code != 401:
            wrong[f"{method.upper()} {path}"] = resp.status_code
    assert wrong == {}
    assert client.get("/api/schema/").status_code == 401
    assert client.get("/api/docs/").status_code == 401
    assert client.post("/api/auth/token/", {}, format="json").status_code == 400


def test_a_401_tells_the_client_how_to_authenticate(db):
    resp = APIClient().get("/api/assets/")
    assert resp.status_code == 401
    assert resp["WWW-Authenticate"] == "Token"


# --- health ---------------------------------------------------------------------------------


def test_healthz_reports_database_broker_and_jobs_without_auth(db):
    now = clock.now()
    JobRun.objects.create(
        job="expire_kyc",
        status=JobRun.Status.SUCCEEDED,
        started_at=now - timedelta(minutes=1),
        finished_at=now,
        counts={"expired": 0},
    )

    resp = Client().get("/healthz")

    assert resp.status_code == 200
    assert resp["Content-Type"] == "application/json"
    body = resp.json()
    assert body["status"] == "ok"
    assert body["database"] == "ok"
    assert body["broker"] == "ok"
    assert body["jobs"]["expire_kyc"]["last_status"] == "succeeded"
    assert body["jobs"]["expire_kyc"]["overdue"] is False
    assert body["jobs"]["expire_kyc"]["last_success"] is not None
    assert body["jobs"]["purge_idempotency_keys"] == {
        "last_success": None,
        "last_status": None,
        "overdue": True,
    }


def test_healthz_is_503_when_the_broker_is_down(db, monkeypatch):
    from financing.celery import app

    def unreachable(*args, **kwargs):
        raise ConnectionRefusedError("broker down")

    monkeypatch.setattr(app, "connection_for_write", unreachable)
    resp = Client().get("/healthz")
    assert resp.status_code == 503
    assert resp.json()["status"] == "degraded"
    assert resp.json()["broker"] == "error: ConnectionRefusedError"
    assert resp.json()["database"] == "ok"


# --- schema and docs ------------------------------------------------------------------------


def test_schema_needs_auth_and_is_openapi_3(api, ops):
    assert api().get("/api/schema/", {"format": "json"}).status_code == 401

    resp = api(ops).get("/api/schema/", {"format": "json"})

    assert resp.status_code == 200
    schema = resp.json()
    assert schema["openapi"].startswith("3.")
    assert schema["info"]["title"] == "Financing Desk API"
    assert "/api/counterparties/{code}/kyc/" in schema["paths"]
    assert "/api/approvals/{id}/approve/" in schema["paths"]


def test_docs_need_auth_and_render_html(api, page, ops):
    assert api().get("/api/docs/").status_code == 401

    resp = page(ops).get("/api/docs/")

    assert resp.status_code == 200
    assert resp["Content-Type"].startswith("text/html")
    html = resp.content.decode()
    assert "swagger" in html.lower()
    assert "/api/schema/" in html


# --- lists ----------------------------------------------------------------------------------


def test_lists_are_paginated_with_count_next_previous_results(api, ops):
    for symbol in ["AAA", "BBB", "CCC"]:
        AssetFactory(symbol=symbol)
    client = api(ops)

    first = client.get("/api/assets/", {"page_size": 2}).json()
    second = client.get(first["next"]).json()

    assert set(first) == {"count", "next", "previous", "results"}
    assert first["count"] == 3
    assert [a["symbol"] for a in first["results"]] == ["AAA", "BBB"]
    assert first["previous"] is None
    assert "page=2" in first["next"]
    assert [a["symbol"] for a in second["results"]] == ["CCC"]
    assert second["next"] is None
    assert second["previous"] is not None


def test_page_size_is_capped(api, ops):
    AssetFactory(symbol="AAA")
    resp = api(ops).get("/api/assets/", {"page_size": 100000})
    assert resp.status_code == 200
    assert resp.json()["count"] == 1


def test_a_page_past_the_end_is_404(api, ops):
    assert api(ops).get("/api/assets/", {"page": 99}).status_code == 404


def test_counterparty_list_pages_and_filters_and_me_names_the_role_and_its_capabilities(
    api, make_user
):
    for i in range(7):
        CounterpartyFactory(
            code=f"CP{i}",
            kyc_status="approved" if i % 2 else "pending",
            kyc_expires_on=None if i % 2 == 0 else "2030-01-01",
        )
    client = api(make_user(Role.RISK))
    page1 = client.get("/api/counterparties/?page_size=3").json()
    assert set(page1) == {"count", "next", "previous", "results"}
    assert page1["count"] == 7 and len(page1["results"]) == 3 and page1["next"]
    approved = client.get("/api/counterparties/?kyc_status=approved").json()
    assert approved["count"] == 3
    AssetFactory(symbol="USDC", decimals=6)
    me = client.get("/api/me/").json()
    assert me["role"] == "risk" and "refdata.view" in me["capabilities"]


def test_filters_select_by_field(api, ops):
    today = clock.business_date()
    CounterpartyFactory(code="OK1", kyc_status="approved")
    CounterpartyFactory(code="OK2", kyc_status="approved", kyc_expires_on=today)
    CounterpartyFactory(code="PEND", kyc_status="pending", kyc_expires_on=None)
    client = api(ops)

    approved = client.get("/api/counterparties/", {"kyc_status": "approved"}).json()
    pending = client.get("/api/counterparties/", {"kyc_status": "pending"}).json()

    assert [c["code"] for c in approved["results"]] == ["OK1", "OK2"]
    assert [c["code"] for c in pending["results"]] == ["PEND"]


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/api/counterparties/", {"kyc_status": "bogus"}, "kyc_status"),
        ("/api/counterparties/", {"kyc_expires_before": "2026-13-45"}, "kyc_expires_before"),
        ("/api/venues/", {"kind": "dark_pool"}, "kind"),
        ("/api/approvals/", {"status": "maybe"}, "status"),
        ("/api/jobs/", {"status": "exploded"}, "status"),
        ("/api/audit/activity/", {"date_from": "yesterday"}, "date_from"),
    ],
)
def test_a_bad_filter_value_is_400_naming_the_filter(api, make_user, path, params, field):
    resp = api(make_user(Role.ADMIN)).get(path, params)
    assert resp.status_code == 400
    assert field in resp.json()


def test_decimals_in_responses_are_strings(api, ops):
    approval = ApprovalRequest.objects.create(
        action="counterparty.kyc_change",
        maker=ops,
        payload={},
        amount_usd=Decimal("1500000.123456789012345678"),
        approver_roles=["compliance"],
        created_at=clock.now(),
    )

    resp = api(ops).get(f"/api/approvals/{approval.pk}/")

    assert resp.status_code == 200
    assert resp.json()["amount_usd"] == "1500000.123456789012345678"
    assert '"amount_usd":"1500000.123456789012345678"' in resp.content.decode()


def test_amount_fields_refuse_json_numbers_and_answer_strings(api, make_user):
    maker = make_user(Role.OPS)
    ApprovalRequest.objects.create(
        action="counterparty.kyc_change",
        maker=maker,
        payload={},
        approver_roles=["compliance"],
        amount_usd=Decimal("1250000.50"),
        created_at="2026-11-20T10:00:00Z",
    )
    row = api(make_user(Role.RISK)).get("/api/approvals/").json()["results"][0]
    assert row["amount_usd"] == "1250000.5"

    field = AmountField()
    with pytest.raises(Exception, match="decimal string"):
        field.run_validation(Decimal("1.5"))
    assert field.run_validation("0.085") == Decimal("0.085")


def test_an_unknown_record_is_404_with_detail(api, ops):
    resp = api(ops).get("/api/assets/NOPE/")
    assert resp.status_code == 404
    assert resp.json() == {"detail": "Not found."}


def test_lookups_by_code_ignore_case(api, ops):
    AssetFactory(symbol="BTC")
    assert api(ops).get("/api/assets/btc/").json()["symbol"] == "BTC"
