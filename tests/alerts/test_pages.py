"""The alerts pages: access by role, filters, acknowledge and resolve through the services,
the delivery log, webhook configuration, exports, navigation, the dashboard tile and query
counts."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from financing.accounts.roles import MATRIX, Role
from financing.alerts.models import Alert, AlertDelivery, AlertDeliveryAttempt, WebhookEndpoint
from financing.alerts.services import (
    AlertSpec,
    alert_acknowledge,
    alert_raise,
    alerts_raise_many,
    alerts_resolve,
)
from tests.alerts.conftest import CALL, NOTICE
from tests.conftest import NOW
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
ROLES = list(Role.values)
SECRET = "page-webhook-secret-0123456789"


@pytest.fixture
def call_alert(db):
    return alert_raise(
        kind=CALL,
        title="Margin call on L-42",
        now=NOW,
        dedupe_key="loan:42:call",
        subject_type="loan",
        subject_id="42",
        subject_url="/loans/42/",
        body="LTV 0.86 above 0.80",
        data={"ltv": "0.86"},
    )


@pytest.fixture
def notice(db):
    return alert_raise(kind=NOTICE, title="Treasury notice", now=NOW, dedupe_key="notice")


def _pages(alert_id):
    return [
        ("/alerts/", "alerts.view"),
        (f"/alerts/{alert_id}/", "alerts.view"),
        ("/alerts/deliveries/", "alerts.view"),
        ("/alerts/webhooks/", "alerts.configure"),
    ]


@pytest.mark.parametrize("role", ROLES)
def test_pages_follow_the_permission_matrix(page, call_alert, role):
    client = page(UserFactory(role=role))
    for url, capability in _pages(call_alert.pk):
        expected = 200 if role in MATRIX[capability] else 403
        assert client.get(url).status_code == expected, url


def test_anonymous_users_are_sent_to_login(call_alert):
    for url, _ in _pages(call_alert.pk):
        resp = Client().get(url)
        assert resp.status_code == 302 and resp["Location"].startswith("/accounts/login/")


def test_the_list_opens_on_live_alerts_and_filters(page, call_alert, notice):
    old = alert_raise(kind=NOTICE, title="Old resolved notice", now=NOW, dedupe_key="old")
    alerts_resolve(alert_id=old.pk, now=NOW)
    client = page(UserFactory(role="risk"))

    def titles(query=""):
        resp = client.get("/alerts/" + query)
        assert resp.status_code == 200
        return {row["obj"].title for row in resp.context["table_rows"]}

    assert titles() == {"Margin call on L-42", "Treasury notice"}
    assert titles("?status=") == {"Margin call on L-42", "Treasury notice", "Old resolved notice"}
    assert titles("?status=resolved") == {"Old resolved notice"}
    assert titles("?severity=critical") == {"Margin call on L-42"}
    assert titles(f"?kind={NOTICE}&status=") == {"Treasury notice", "Old resolved notice"}
    assert titles("?mine=true") == {"Margin call on L-42"}  # risk is concerned by calls
    assert titles("?severity=urgent") == set()  # a bad filter keeps nothing and says why


def test_the_list_shows_badges_links_utc_times_and_highlights(page, call_alert, notice):
    html = page(UserFactory(role="risk")).get("/alerts/").content.decode()
    assert 'class="badge badge-bad">Critical<' in html
    assert 'href="/loans/42/"' in html
    assert "<th>Severity</th>" in html and "Raised (UTC)" in html and "2026-11-21 09:30:00" in html
    assert f'class="al-critical al-mine" data-alert="{call_alert.pk}"' in html
    assert f'class="" data-alert="{notice.pk}"' in html
    assert 'data-testid="acknowledge"' in html and 'data-testid="resolve"' in html
    assert "csrfmiddlewaretoken" in html


def test_auditors_see_alerts_without_action_buttons(page, call_alert):
    html = page(UserFactory(role="auditor")).get("/alerts/").content.decode()
    assert "Margin call on L-42" in html
    assert 'data-testid="acknowledge"' not in html


def test_acknowledge_and_resolve_from_the_page(page, call_alert):
    ops = UserFactory(role="ops")
    client = page(ops)

    resp = client.post(
        f"/alerts/{call_alert.pk}/acknowledge/", {"note": "calling", "next": "/alerts/?status="}
    )
    assert resp.status_code == 302 and resp["Location"] == "/alerts/?status="
    call_alert.refresh_from_db()
    assert call_alert.status == "acknowledged" and call_alert.acknowledged_by == ops

    again = client.post(f"/alerts/{call_alert.pk}/acknowledge/", follow=True)
    assert again.status_code == 200
    assert "cannot become acknowledged" in again.content.decode()

    done = client.post(f"/alerts/{call_alert.pk}/resolve/", {"note": "topped up"}, follow=True)
    assert f"Alert #{call_alert.pk} resolved." in done.content.decode()
    call_alert.refresh_from_db()
    assert call_alert.status == "resolved" and call_alert.resolution_note == "topped up"


def test_the_action_redirect_never_leaves_the_site(page, call_alert):
    resp = page(UserFactory(role="ops")).post(
        f"/alerts/{call_alert.pk}/acknowledge/", {"next": "https://evil.example/"}
    )
    assert resp["Location"] == f"/alerts/{call_alert.pk}/"


def test_a_huge_note_from_the_page_is_refused_with_a_message(page, call_alert):
    resp = page(UserFactory(role="ops")).post(
        f"/alerts/{call_alert.pk}/resolve/", {"note": "x" * 5000}, follow=True
    )
    assert resp.status_code == 200 and "at most 2000 characters" in resp.content.decode()
    assert Alert.objects.get(pk=call_alert.pk).status == "open"


@pytest.mark.parametrize("role", ["auditor", "trading"])
def test_roles_that_cannot_act_get_403_and_nothing_changes(page, call_alert, role):
    resp = page(UserFactory(role=role)).post(f"/alerts/{call_alert.pk}/acknowledge/")
    assert resp.status_code == 403
    assert Alert.objects.get(pk=call_alert.pk).status == "open"


def test_the_detail_page_shows_history_and_deliveries(page, call_alert):
    d = AlertDelivery.objects.create(
        alert=call_alert,
        channel="email",
        target="risk@example.com",
        status="failed",
        attempts=2,
        last_error="SMTP says no",
        created_at=NOW,
    )
    AlertDeliveryAttempt.objects.create(
        delivery=d, number=1, at=NOW, ok=False, error="SMTP says no", duration_ms=12
    )
    alert_acknowledge(alert_id=call_alert.pk, user=UserFactory(role="risk", username="rk"), now=NOW)
    html = page(UserFactory(role="ops")).get(f"/alerts/{call_alert.pk}/").content.decode()
    assert "LTV 0.86 above 0.80" in html and "risk@example.com" in html
    assert "SMTP says no" in html and 'class="al-failed"' in html
    assert "open → <strong>acknowledged</strong> · rk" in html
    assert 'data-testid="resolve"' in html and 'data-testid="acknowledge"' not in html


def test_the_delivery_log_highlights_failures_and_masks_webhook_urls(page, call_alert):
    endpoint = WebhookEndpoint.objects.create(
        name="pager",
        url="https://hooks.example.com/T0/supersecrettoken",
        secret=SECRET,
        created_at=NOW,
        updated_at=NOW,
    )
    AlertDelivery.objects.create(
        alert=call_alert,
        channel="webhook",
        target=endpoint.url,
        endpoint=endpoint,
        status="failed",
        attempts=8,
        last_error="HTTP 500",
        created_at=NOW,
    )
    AlertDelivery.objects.create(
        alert=call_alert,
        channel="email",
        target="ops@example.com",
        status="delivered",
        attempts=1,
        delivered_at=NOW,
        created_at=NOW,
    )
    ops_html = page(UserFactory(role="ops")).get("/alerts/deliveries/").content.decode()
    assert "supersecrettoken" not in ops_html
    assert "pager (https://hooks.example.com/…)" in ops_html
    assert ops_html.count('class="al-failed"') == 1
    client = page(UserFactory(role="risk"))
    failed = client.get("/alerts/deliveries/?status=failed")
    assert [r["obj"].channel for r in failed.context["table_rows"]] == ["webhook"]
    assert "supersecrettoken" in client.get("/alerts/deliveries/").content.decode()


def test_alert_list_and_delivery_log_export_csv(page, call_alert, notice):
    AlertDelivery.objects.create(
        alert=call_alert,
        channel="email",
        target="ops@example.com",
        status="pending",
        next_attempt_at=NOW,
        created_at=NOW,
    )
    client = page(UserFactory(role="ops"))
    resp = client.get("/alerts/?severity=critical&export=csv")
    assert resp["Content-Type"].startswith("text/csv")
    lines = b"".join(resp.streaming_content).decode().splitlines()
    assert lines[0].startswith("#,Severity,Status,Kind,Title,Subject,Raised (UTC)")
    assert len(lines) == 2 and "Margin call on L-42" in lines[1] and "loan 42" in lines[1]
    log = client.get("/alerts/deliveries/?export=csv")
    rows = b"".join(log.streaming_content).decode().splitlines()
    assert rows[0].startswith("Delivery,Alert,Kind,Channel,To,Status,Attempts")
    assert len(rows) == 2 and "ops@example.com" in rows[1]
    xlsx = client.get("/alerts/?export=xlsx")
    assert xlsx.status_code == 200 and xlsx.content[:2] == b"PK"


def test_the_webhook_page_adds_an_endpoint_without_showing_its_secret(page, settings):
    settings.WEBHOOK_URLS = ["https://env.example.com/path/with-token"]
    client = page(UserFactory(role="risk"))

    bad = client.post(
        "/alerts/webhooks/",
        {"name": "x", "url": "ftp://nope", "secret": SECRET, "min_severity": "info"},
    )
    assert bad.status_code == 400 and "errorlist" in bad.content.decode()
    assert WebhookEndpoint.objects.count() == 0

    ok = client.post(
        "/alerts/webhooks/",
        {
            "name": "pager",
            "url": "https://pager.example.com/hook",
            "secret": SECRET,
            "kinds": [CALL],
            "min_severity": "warning",
            "is_active": "on",
        },
    )
    assert ok.status_code == 302
    endpoint = WebhookEndpoint.objects.get()
    assert (endpoint.kinds, endpoint.min_severity, endpoint.is_active) == (
        [CALL],
        "warning",
        True,
    )
    html = client.get("/alerts/webhooks/").content.decode()
    assert "https://pager.example.com/hook" in html and SECRET not in html
    assert "https://env.example.com/…" in html and "with-token" not in html

    client.post(f"/alerts/webhooks/{endpoint.pk}/toggle/")
    assert WebhookEndpoint.objects.get().is_active is False


def test_ops_cannot_configure_webhooks_from_the_page(page):
    resp = page(UserFactory(role="ops")).post(
        "/alerts/webhooks/",
        {"name": "x", "url": "https://x.example.com", "secret": SECRET, "min_severity": "info"},
    )
    assert resp.status_code == 403 and WebhookEndpoint.objects.count() == 0


# ---------------------------------------------------------------- shell: nav and tile


@pytest.mark.parametrize(
    ("url", "active"),
    [
        ("/alerts/", "Alerts"),
        ("/alerts/deliveries/", "Alert deliveries"),
        ("/alerts/webhooks/", "Alert webhooks"),
    ],
)
def test_navigation_highlights_exactly_one_item(page, url, active):
    resp = page(UserFactory(role="admin")).get(url)
    lit = [
        i["label"] for items in resp.context["nav_sections"].values() for i in items if i["active"]
    ]
    assert lit == [active]


def test_nav_offers_webhooks_only_to_those_who_configure_them(page):
    def labels(role):
        resp = page(UserFactory(role=role)).get("/")
        return {i["label"] for items in resp.context["nav_sections"].values() for i in items}

    assert {"Alerts", "Alert deliveries", "Alert webhooks"} <= labels("risk")
    assert "Alert webhooks" not in labels("ops") and "Alerts" in labels("ops")
    assert "Alerts" not in labels("trading")


def test_the_tile_counts_live_alerts_highlights_critical_and_links_to_them(
    page, call_alert, notice
):
    resolved = alert_raise(kind=NOTICE, title="gone", now=NOW, dedupe_key="gone")
    alerts_resolve(alert_id=resolved.pk, now=NOW)
    client = page(UserFactory(role="ops"))

    [tile] = [t for t in client.get("/").context["tiles"] if t["tile"].key == "alerts.open"]

    assert tile["value"] == 2 and tile["critical"] == 1 and tile["tone"] == "bad"
    assert tile["detail"].startswith("1 critical")
    listed = client.get(tile["url"])
    assert len(listed.context["table_rows"]) == tile["value"]


def test_the_tile_is_calm_without_alerts_and_hidden_from_trading(page):
    [tile] = [
        t
        for t in page(UserFactory(role="auditor")).get("/").context["tiles"]
        if t["tile"].key == "alerts.open"
    ]
    assert (tile["value"], tile["tone"]) == (0, "ok")
    keys = {t["tile"].key for t in page(UserFactory(role="trading")).get("/").context["tiles"]}
    assert "alerts.open" not in keys


# ---------------------------------------------------------------- query counts


@pytest.mark.parametrize("url", ["/alerts/", "/alerts/deliveries/", "/alerts/webhooks/", "/"])
def test_pages_run_a_bounded_number_of_queries(page, url, call_alert):
    client = page(UserFactory(role="admin"))

    def grow(n, start):
        alerts_raise_many(
            [
                AlertSpec(kind=CALL, title=f"{i}", dedupe_key=f"g{i}", subject_url=f"/loans/{i}/")
                for i in range(start, start + n)
            ],
            now=NOW,
        )
        acker = UserFactory(role="ops")
        for alert in Alert.objects.filter(fanned_out_at__isnull=True):
            Alert.objects.filter(pk=alert.pk).update(fanned_out_at=NOW)
            if alert.pk % 2:
                alert_acknowledge(alert_id=alert.pk, user=acker, now=NOW)
            d = AlertDelivery.objects.create(
                alert=alert,
                channel="email",
                target="x@example.com",
                status="pending",
                next_attempt_at=NOW + timedelta(minutes=1),
                created_at=NOW,
            )
            AlertDeliveryAttempt.objects.create(delivery=d, number=1, at=NOW, ok=False)
        for i in range(start, start + n):
            WebhookEndpoint.objects.create(
                name=f"h{i}",
                url="https://x.example.com/",
                secret=SECRET,
                created_at=NOW,
                updated_at=NOW,
            )

    grow(2, 0)
    client.get(url)
    with CaptureQueriesContext(connection) as small:
        assert client.get(url).status_code == 200
    grow(30, 100)
    with CaptureQueriesContext(connection) as large:
        assert client.get(url).status_code == 200
    assert len(large.captured_queries) <= len(small.captured_queries)
