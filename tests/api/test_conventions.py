from __future__ import annotations

import pytest
from django.test import Client

from tests.factories import AssetFactory, CounterpartyFactory, UserFactory


@pytest.mark.django_db
def test_token_endpoint(api):
    UserFactory(username="sys1", role="ops")
    ok = api().post(
        "/api/auth/token/", {"username": "sys1", "password": "pw-for-tests-2026"}, format="json"
    )
    assert ok.status_code == 200 and len(ok.json()["token"]) == 40
    assert (
        api()
        .post("/api/auth/token/", {"username": "sys1", "password": "bad"}, format="json")
        .status_code
        == 401
    )
    assert "password" in api().post("/api/auth/token/", {"username": "sys1"}, format="json").json()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path",
    [
        "/api/assets/",
        "/api/approvals/",
        "/api/me/",
        "/api/schema/",
        "/api/docs/",
        "/api/jobs/",
        "/api/audit/activity/",
    ],
)
def test_anonymous_is_401_everywhere_but_the_token_endpoint(api, path):
    assert api().get(path).status_code == 401


@pytest.mark.django_db
def test_healthz_reports_database_broker_and_jobs_without_login():
    resp = Client().get("/healthz")
    body = resp.json()
    assert resp.status_code == 200 and body["database"] == "ok" and body["broker"] == "ok"
    assert set(body["jobs"]) >= {"expire_kyc", "purge_idempotency_keys"}


@pytest.mark.django_db
def test_schema_and_docs_for_a_logged_in_user(api, page):
    user = UserFactory(role="ops")
    schema = api(user).get("/api/schema/?format=json")
    assert schema.status_code == 200 and schema.json()["openapi"].startswith("3.")
    assert "/api/approvals/{id}/approve/" in schema.json()["paths"]
    docs = page(user).get("/api/docs/")
    assert docs.status_code == 200 and b"swagger" in docs.content.lower()


@pytest.mark.django_db
def test_pagination_filters_and_decimal_strings(api):
    for i in range(7):
        CounterpartyFactory(
            code=f"CP{i}",
            kyc_status="approved" if i % 2 else "pending",
            kyc_expires_on=None if i % 2 == 0 else "2030-01-01",
        )
    client = api(UserFactory(role="risk"))
    page1 = client.get("/api/counterparties/?page_size=3").json()
    assert set(page1) == {"count", "next", "previous", "results"}
    assert page1["count"] == 7 and len(page1["results"]) == 3 and page1["next"]
    approved = client.get("/api/counterparties/?kyc_status=approved").json()
    assert approved["count"] == 3
    AssetFactory(symbol="USDC", decimals=6)
    me = client.get("/api/me/").json()
    assert me["role"] == "risk" and "refdata.view" in me["capabilities"]


@pytest.mark.django_db
def test_amount_fields_refuse_json_numbers_and_answer_strings(api):
    from decimal import Decimal

    from financing.approvals.models import ApprovalRequest

    maker = UserFactory(role="ops")
    ApprovalRequest.objects.create(
        action="counterparty.kyc_change",
        maker=maker,
        payload={},
        approver_roles=["compliance"],
        amount_usd=Decimal("1250000.50"),
        created_at="2026-11-20T10:00:00Z",
    )
    row = api(UserFactory(role="risk")).get("/api/approvals/").json()["results"][0]
    assert row["amount_usd"] == "1250000.5"

    from financing.api.fields import AmountField

    field = AmountField()
    with pytest.raises(Exception, match="decimal string"):
        field.run_validation(Decimal("1.5"))
    assert field.run_validation("0.085") == Decimal("0.085")
