"""The alerts API: every endpoint for every role, shapes, filters, bad input, conflicts,
idempotency, write-only secrets and bounded query counts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from financing.accounts.roles import MATRIX, Role
from financing.alerts.models import (
    Alert,
    AlertDelivery,
    AlertDeliveryAttempt,
    AlertEvent,
    WebhookEndpoint,
)
from financing.alerts.services import AlertSpec, alert_raise, alerts_raise_many
from tests.alerts.conftest import CALL, NOTICE
from tests.conftest import NOW

pytestmark = pytest.mark.django_db
ROLES = list(Role.values)
SECRET = "a-webhook-secret-0123456789"
TOKEN_URL = "https://hooks.example.com/services/T000/B000/supersecrettoken"


@pytest.fixture
def world(db):
    """One live alert (id in "alert") with a failed webhook delivery and one endpoint."""
    alert = alert_raise(
        kind=CALL,
        title="Margin call on L-42",
        now=NOW,
        dedupe_key="loan:42:call",
        subject_type="loan",
        subject_id="42",
        subject_url="/loans/42/",
        data={"ltv": "0.86"},
    )
    endpoint = WebhookEndpoint.objects.create(
        name="pager",
        url=TOKEN_URL,
        secret=SECRET,
        created_at=NOW,
        updated_at=NOW,
    )
    d = AlertDelivery.objects.create(
        alert=alert,
        channel="webhook",
        target=TOKEN_URL,
        endpoint=endpoint,
        status="failed",
        attempts=1,
        last_error="HTTP 500",
        created_at=NOW,
    )
    AlertDeliveryAttempt.objects.create(
        delivery=d, number=1, at=NOW, ok=False, http_status=500, error="HTTP 500", signature="x"
    )
    return {"alert": alert, "endpoint": endpoint, "delivery": d}


def _state() -> dict:
    return {
        "alerts": list(
            Alert.objects.order_by("id").values_list("id", "status", "acknowledged_by_id")
        ),
        "events": AlertEvent.objects.count(),
        "endpoints": list(
            WebhookEndpoint.objects.order_by("id").values_list(
                "name", "url", "secret", "is_active", "min_severity"
            )
        ),
    }


# ---------------------------------------------------------------- permission matrix


@dataclass(frozen=True)
class Endpoint:
    id: str
    method: str
    path: str
    capability: str
    success: int
    body: dict[str, Any] | None = None


ENDPOINTS = [
    Endpoint("alerts-list", "get", "/api/alerts/", "alerts.view", 200),
    Endpoint("alerts-detail", "get", "/api/alerts/{alert}/", "alerts.view", 200),
    Endpoint(
        "alerts-acknowledge",
        "post",
        "/api/alerts/{alert}/acknowledge/",
        "alerts.act",
        200,
        {"note": "on it"},
    ),
    Endpoint("alerts-resolve", "post", "/api/alerts/{alert}/resolve/", "alerts.act", 200, {}),
    Endpoint("deliveries-list", "get", "/api/alerts/deliveries/", "alerts.view", 200),
    Endpoint("deliveries-detail", "get", "/api/alerts/deliveries/{delivery}/", "alerts.view", 200),
    Endpoint("webhooks-list", "get", "/api/alerts/webhooks/", "alerts.configure", 200),
    Endpoint(
        "webhooks-create",
        "post",
        "/api/alerts/webhooks/",
        "alerts.configure",
        201,
        {"name": "ops-bridge", "url": "https://ops.example.com/hook", "secret": SECRET},
    ),
    Endpoint("webhooks-detail", "get", "/api/alerts/webhooks/{endpoint}/", "alerts.configure", 200),
    Endpoint(
        "webhooks-update",
        "patch",
        "/api/alerts/webhooks/{endpoint}/",
        "alerts.configure",
        200,
        {"is_active": False},
    ),
]


def _path(endpoint: Endpoint, world) -> str:
    return endpoint.path.format(
        alert=world["alert"].pk, delivery=world["delivery"].pk, endpoint=world["endpoint"].pk
    )


def _call(client, endpoint: Endpoint, world):
    return getattr(client, endpoint.method)(_path(endpoint, world), endpoint.body, format="json")


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=[e.id for e in ENDPOINTS])
def test_every_endpoint_follows_the_permission_matrix(api, make_user, world, endpoint, role):
    before = _state()
    resp = _call(api(make_user(role)), endpoint, world)

    if role in MATRIX[endpoint.capability]:
        assert resp.status_code == endpoint.success, resp.content
    else:
        assert resp.status_code == 403, resp.content
        assert _state() == before


def test_trading_is_refused_everything(api, make_user, world):
    client = api(make_user("trading"))
    assert {e.id: _call(client, e, world).status_code for e in ENDPOINTS} == {
        e.id: 403 for e in ENDPOINTS
    }


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=[e.id for e in ENDPOINTS])
def test_anonymous_gets_401(api, world, endpoint):
    before = _state()
    assert _call(api(), endpoint, world).status_code == 401
    assert _state() == before


def test_the_matrix_gives_alerts_to_staff_and_actions_to_checkers():
    assert "trading" not in MATRIX["alerts.view"]
    assert "auditor" in MATRIX["alerts.view"] and "auditor" not in MATRIX["alerts.act"]
    assert set(MATRIX["alerts.configure"]) == {"risk", "admin"}


# ---------------------------------------------------------------- shapes and filters


def test_alert_list_shape(api, make_user, world):
    resp = api(make_user("risk")).get("/api/alerts/")
    assert resp.status_code == 200
    body = resp.json()
    assert set(body) == {"count", "next", "previous", "results"}
    [row] = body["results"]
    assert row["id"] == world["alert"].pk
    assert row["kind"] == CALL and row["kind_label"] == "Test margin call"
    assert row["severity"] == "critical" and row["status"] == "open"
    assert row["subject"] == {"type": "loan", "id": "42", "url": "/loans/42/"}
    assert row["data"] == {"ltv": "0.86"}
    assert row["raised_at"] == "2026-11-21T09:30:00Z" and row["occurrences"] == 1
    assert row["acknowledged_by"] is None and row["resolved_by"] is None
    assert row["concerns_me"] is True
    assert [e["to_status"] for e in row["events"]] == ["open"]
    assert [d["status"] for d in row["deliveries"]] == ["failed"]


def test_concerns_me_follows_the_callers_role(api, make_user, world):
    [row] = api(make_user("treasury")).get("/api/alerts/").json()["results"]
    assert row["concerns_me"] is False


def test_alert_detail_has_events_and_deliveries_with_attempts(api, make_user, world):
    body = api(make_user("admin")).get(f"/api/alerts/{world['alert'].pk}/").json()
    assert [(e["from_status"], e["to_status"], e["actor"]) for e in body["events"]] == [
        ("", "open", None)
    ]
    [d] = body["deliveries"]
    assert d["channel"] == "webhook" and d["status"] == "failed" and d["endpoint"] == "pager"
    assert d["target"] == TOKEN_URL  # admin configures webhooks: sees the URL
    assert [(a["number"], a["ok"], a["http_status"]) for a in d["attempt_log"]] == [(1, False, 500)]


def test_webhook_urls_are_masked_for_those_who_do_not_configure_them(api, make_user, world):
    body = api(make_user("ops")).get("/api/alerts/deliveries/").json()
    [d] = body["results"]
    assert "supersecrettoken" not in str(body)
    assert d["target"] == "pager (https://hooks.example.com/…)"


def test_alert_filters(api, make_user, world):
    alert_raise(kind=NOTICE, title="fyi", now=NOW, subject_type="asset", subject_id="BTC")
    resolved = alert_raise(kind=NOTICE, title="old", now=NOW, dedupe_key="old")
    from financing.alerts.services import alerts_resolve

    alerts_resolve(alert_id=resolved.pk, now=NOW)
    client = api(make_user("ops"))

    def titles(**params):
        resp = client.get("/api/alerts/", params)
        assert resp.status_code == 200
        return sorted(r["title"] for r in resp.json()["results"])

    assert titles() == ["Margin call on L-42", "fyi", "old"]
    assert titles(status="live") == ["Margin call on L-42", "fyi"]
    assert titles(status="resolved") == ["old"]
    assert titles(kind=NOTICE) == ["fyi", "old"]
    assert titles(severity="critical") == ["Margin call on L-42"]
    assert titles(subject_type="asset", subject_id="BTC") == ["fyi"]
    assert titles(subject_type="loan", subject_id="42") == ["Margin call on L-42"]
    assert titles(raised_after="2026-11-21T10:00:00Z") == []


@pytest.mark.parametrize(
    "params", [{"status": "bogus"}, {"severity": "urgent"}, {"raised_after": "yesterday"}]
)
def test_bad_filters_are_400(api, make_user, world, params):
    resp = api(make_user("ops")).get("/api/alerts/", params)
    assert resp.status_code == 400
    assert set(params) <= set(resp.json())


def test_delivery_filters(api, make_user, world):
    client = api(make_user("auditor"))
    assert client.get("/api/alerts/deliveries/", {"status": "failed"}).json()["count"] == 1
    assert client.get("/api/alerts/deliveries/", {"status": "delivered"}).json()["count"] == 0
    assert client.get("/api/alerts/deliveries/", {"channel": "email"}).json()["count"] == 0
    assert client.get("/api/alerts/deliveries/", {"channel": "pigeon"}).status_code == 400


def test_unknown_alert_is_404(api, make_user, world):
    client = api(make_user("ops"))
    assert client.get("/api/alerts/999999/").status_code == 404
    assert client.post("/api/alerts/999999/acknowledge/", {}, format="json").status_code == 404
    assert client.post("/api/alerts/999999/resolve/", {}, format="json").status_code == 404


# ---------------------------------------------------------------- acknowledge and resolve


def test_acknowledge_then_resolve_through_the_api(api, make_user, world):
    client = api(make_user("ops", username="olivia"))
    pk = world["alert"].pk

    acked = client.post(
        f"/api/alerts/{pk}/acknowledge/", {"note": "calling the client"}, format="json"
    )
    assert acked.status_code == 200
    assert acked.json()["status"] == "acknowledged" and acked.json()["acknowledged_by"] == "olivia"

    again = client.post(f"/api/alerts/{pk}/acknowledge/", {}, format="json")
    assert again.status_code == 409 and "detail" in again.json()

    resolved = client.post(f"/api/alerts/{pk}/resolve/", {"note": "topped up"}, format="json")
    assert resolved.status_code == 200
    body = resolved.json()
    assert body["status"] == "resolved" and body["resolved_by"] == "olivia"
    assert body["resolution_note"] == "topped up"
    assert [e["to_status"] for e in body["events"]] == ["open", "acknowledged", "resolved"]

    assert client.post(f"/api/alerts/{pk}/resolve/", {}, format="json").status_code == 409
    assert client.post(f"/api/alerts/{pk}/acknowledge/", {}, format="json").status_code == 409


def test_a_system_resolution_reads_as_system(api, make_user, world):
    from financing.alerts.services import alerts_resolve

    alerts_resolve(dedupe_key="loan:42:call", now=NOW)
    body = api(make_user("ops")).get(f"/api/alerts/{world['alert'].pk}/").json()
    assert body["resolved_by"] == "system" and body["status"] == "resolved"


def test_acknowledge_with_an_idempotency_key_replays_instead_of_conflicting(api, make_user, world):
    client = api(make_user("risk"))
    path = f"/api/alerts/{world['alert'].pk}/acknowledge/"
    first = client.post(path, {"note": "x"}, format="json", HTTP_IDEMPOTENCY_KEY="ack-1")
    second = client.post(path, {"note": "x"}, format="json", HTTP_IDEMPOTENCY_KEY="ack-1")
    assert first.status_code == second.status_code == 200
    assert second["Idempotent-Replayed"] == "true"
    assert AlertEvent.objects.filter(to_status="acknowledged").count() == 1
    other = client.post(path, {"note": "y"}, format="json", HTTP_IDEMPOTENCY_KEY="ack-1")
    assert other.status_code == 409


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"note": "x" * 5000}, "note"),
        ({"note": 12}, "note"),
        ({"note": ["a"]}, "note"),
        ({"reason": "wrong field name"}, "reason"),
        (["not", "an", "object"], "detail"),
    ],
    ids=["huge-note", "number-note", "list-note", "unknown-field", "not-an-object"],
)
@pytest.mark.parametrize("verb", ["acknowledge", "resolve"])
def test_bad_action_bodies_are_400_and_change_nothing(api, make_user, world, body, field, verb):
    before = _state()
    resp = api(make_user("ops")).post(
        f"/api/alerts/{world['alert'].pk}/{verb}/", body, format="json"
    )
    assert resp.status_code == 400, resp.content
    assert field in resp.json()
    assert _state() == before


@pytest.mark.parametrize("verb", ["acknowledge", "resolve"])
def test_a_body_that_is_not_json_is_400(api, make_user, world, verb):
    before = _state()
    resp = api(make_user("ops")).post(
        f"/api/alerts/{world['alert'].pk}/{verb}/",
        data="{not json",
        content_type="application/json",
    )
    assert resp.status_code == 400
    assert _state() == before


def test_a_huge_payload_is_400_not_500(api, make_user, world):
    before = _state()
    resp = api(make_user("ops")).post(
        f"/api/alerts/{world['alert'].pk}/resolve/",
        data='{"note": "' + "x" * (3 * 1024 * 1024) + '"}',
        content_type="application/json",
    )
    assert resp.status_code == 400
    assert _state() == before


# ---------------------------------------------------------------- webhook endpoints


def test_create_webhook_never_returns_the_secret(api, make_user, world):
    client = api(make_user("risk", username="rita"))
    resp = client.post(
        "/api/alerts/webhooks/",
        {
            "name": "ops-bridge",
            "url": "https://ops.example.com/hook",
            "secret": SECRET,
            "kinds": [CALL],
            "min_severity": "warning",
        },
        format="json",
    )
    assert resp.status_code == 201, resp.content
    body = resp.json()
    assert "secret" not in body and SECRET not in resp.content.decode()
    assert body["name"] == "ops-bridge" and body["kinds"] == [CALL]
    assert body["min_severity"] == "warning" and body["is_active"] is True
    assert body["has_secret"] is True and body["created_by"] == "rita"
    endpoint = WebhookEndpoint.objects.get(name="ops-bridge")
    assert endpoint.secret == SECRET
    for path in ("/api/alerts/webhooks/", f"/api/alerts/webhooks/{endpoint.pk}/"):
        assert SECRET not in client.get(path).content.decode()
    history = endpoint.history.first()
    assert history.history_user.username == "rita" and not hasattr(history, "secret")


def test_patch_webhook_rotates_the_secret_and_toggles_it(api, make_user, world):
    client = api(make_user("admin"))
    pk = world["endpoint"].pk
    resp = client.patch(
        f"/api/alerts/webhooks/{pk}/",
        {"secret": "a-rotated-secret-0123456789", "is_active": False},
        format="json",
    )
    assert resp.status_code == 200 and "secret" not in resp.json()
    endpoint = WebhookEndpoint.objects.get(pk=pk)
    assert endpoint.secret == "a-rotated-secret-0123456789" and endpoint.is_active is False


def test_put_and_delete_are_not_offered(api, make_user, world):
    client = api(make_user("admin"))
    path = f"/api/alerts/webhooks/{world['endpoint'].pk}/"
    assert client.put(path, {"name": "x"}, format="json").status_code == 405
    assert client.delete(path).status_code == 405
    assert WebhookEndpoint.objects.filter(pk=world["endpoint"].pk).exists()


GOOD = {"name": "new-hook", "url": "https://ops.example.com/hook", "secret": SECRET}


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"url": "ftp://ops.example.com/hook"}, "url"),
        ({"url": "javascript:alert(1)"}, "url"),
        ({"url": "not a url"}, "url"),
        ({"url": "https://" + "a" * 600 + ".com"}, "url"),
        ({"min_severity": "urgent"}, "min_severity"),
        ({"kinds": ["no.such_kind"]}, "kinds"),
        ({"kinds": "test.margin_call"}, "kinds"),
        ({"secret": "short"}, "secret"),
        ({"is_active": "yes"}, "is_active"),
        ({"name": ""}, "name"),
        ({"name": 42}, "name"),
        ({"name": "pager"}, "name"),  # taken
        ({"colour": "red"}, "colour"),
    ],
)
def test_bad_webhook_input_is_400_and_writes_nothing(api, make_user, world, changes, field):
    before = _state()
    resp = api(make_user("risk")).post("/api/alerts/webhooks/", {**GOOD, **changes}, format="json")
    assert resp.status_code == 400, resp.content
    assert field in resp.json()
    assert _state() == before


def test_missing_webhook_fields_are_named(api, make_user, world):
    resp = api(make_user("risk")).post("/api/alerts/webhooks/", {}, format="json")
    assert resp.status_code == 400
    assert {"name", "url", "secret"} <= set(resp.json())


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": "gopher://x"}, "url"),
        ({"min_severity": "urgent"}, "min_severity"),
        ({"secret": "short"}, "secret"),
        ({"id": 7}, "id"),
    ],
)
def test_bad_webhook_patch_is_400_and_writes_nothing(api, make_user, world, body, field):
    before = _state()
    resp = api(make_user("admin")).patch(
        f"/api/alerts/webhooks/{world['endpoint'].pk}/", body, format="json"
    )
    assert resp.status_code == 400, resp.content
    assert field in resp.json()
    assert _state() == before


def test_patching_an_unknown_webhook_is_404(api, make_user, world):
    resp = api(make_user("admin")).patch(
        "/api/alerts/webhooks/999999/", {"is_active": False}, format="json"
    )
    assert resp.status_code == 404


def test_webhook_create_is_idempotent_with_a_key(api, make_user, world):
    client = api(make_user("risk"))
    body = {**GOOD, "name": "idem"}
    a = client.post("/api/alerts/webhooks/", body, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    b = client.post("/api/alerts/webhooks/", body, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert a.status_code == b.status_code == 201 and a.json() == b.json()
    assert WebhookEndpoint.objects.filter(name="idem").count() == 1


# ---------------------------------------------------------------- query counts


@pytest.mark.parametrize(
    "path", ["/api/alerts/", "/api/alerts/deliveries/", "/api/alerts/webhooks/", "detail"]
)
def test_list_endpoints_run_a_bounded_number_of_queries(api, make_user, world, path):
    client = api(make_user("admin"))
    if path == "detail":
        path = f"/api/alerts/{world['alert'].pk}/"

    def grow(n, start):
        alerts_raise_many(
            [
                AlertSpec(kind=CALL, title=f"{i}", dedupe_key=f"g{i}")
                for i in range(start, start + n)
            ],
            now=NOW,
        )
        for i, alert in enumerate(Alert.objects.filter(fanned_out_at__isnull=True)):
            Alert.objects.filter(pk=alert.pk).update(fanned_out_at=NOW)
            for target in ("a@example.com", "b@example.com"):
                d = AlertDelivery.objects.create(
                    alert=world["alert"] if i % 2 else alert,
                    channel="email",
                    target=f"{alert.pk}-{target}",
                    status="pending",
                    next_attempt_at=NOW + timedelta(minutes=1),
                    created_at=NOW,
                )
                AlertDeliveryAttempt.objects.create(
                    delivery=d, number=1, at=NOW, ok=False, error="x"
                )
        for i in range(n):
            WebhookEndpoint.objects.create(
                name=f"hook-{start + i}",
                url="https://x.example.com/h",
                secret=SECRET,
                created_at=NOW,
                updated_at=NOW,
            )

    grow(2, 0)
    client.get(path)
    with CaptureQueriesContext(connection) as small:
        assert client.get(path).status_code == 200
    grow(25, 100)
    with CaptureQueriesContext(connection) as large:
        assert client.get(path).status_code == 200
    assert len(large.captured_queries) <= len(small.captured_queries)


def test_the_schema_documents_the_alerts_endpoints(api, make_user):
    from drf_spectacular.generators import SchemaGenerator

    paths = SchemaGenerator().get_schema(request=None, public=True)["paths"]
    assert {
        "/api/alerts/",
        "/api/alerts/{id}/",
        "/api/alerts/{id}/acknowledge/",
        "/api/alerts/{id}/resolve/",
        "/api/alerts/deliveries/",
        "/api/alerts/webhooks/",
        "/api/alerts/webhooks/{id}/",
    } <= set(paths)


def test_the_alerts_endpoints_add_no_schema_warnings():
    """Names that clash with other apps' components or enums would give clients wrong types
    (and fail `check --deploy`)."""
    from drf_spectacular.drainage import GENERATOR_STATS
    from drf_spectacular.generators import SchemaGenerator

    GENERATOR_STATS.reset()
    with GENERATOR_STATS.silence():
        schema = SchemaGenerator().get_schema(request=None, public=True)
    messages = list(GENERATOR_STATS._warn_cache) + list(GENERATOR_STATS._error_cache)
    GENERATOR_STATS.reset()
    ours = [
        m
        for m in messages
        if "alerts" in m or any(n in m for n in ("Alert", "Severity", "Webhook", '"status"'))
    ]
    assert ours == []
    components = schema["components"]["schemas"]
    assert components["AlertStatusEnum"]["enum"] == ["open", "acknowledged", "resolved"]
    assert components["SeverityEnum"]["enum"] == ["info", "warning", "critical"]
    assert "secret" not in components["WebhookEndpoint"]["properties"]
