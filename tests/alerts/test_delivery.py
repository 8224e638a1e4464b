"""Delivering alerts: fan-out to recipients, email through Django's backend, signed webhooks to
a real local HTTP server, retries with backoff, the attempt log, claims and leases.

Sending does network I/O and so refuses to run inside a transaction: these tests run with real
commits (django_db(transaction=True)), as the delivery job does."""

from __future__ import annotations

import threading
from datetime import timedelta
from unittest import mock

import pytest
from django.core import mail
from django.core.management import call_command
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from financing.alerts import delivery
from financing.alerts.delivery import (
    alert_deliveries_fan_out,
    alert_deliveries_send,
    alerts_deliver,
    backoff,
)
from financing.alerts.models import (
    Alert,
    AlertDelivery,
    AlertDeliveryAttempt,
    WebhookEndpoint,
)
from financing.alerts.services import AlertSpec, alert_raise, alerts_raise_many
from financing.alerts.webhooks import webhook_signature, webhook_verify
from financing.jobs import registry as job_registry
from financing.jobs.models import JobRun
from tests.alerts.conftest import CALL, NOTICE
from tests.conftest import NOW, run_in_threads
from tests.factories import UserFactory

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("no_broker"),
]
SECRET = "endpoint-secret-0123456789abcdef"


@pytest.fixture
def no_broker():
    """The delivery job is driven here by calling it; the queued task is not needed."""
    with mock.patch("financing.jobs.tasks.run_job_task.delay") as delay:
        yield delay


def _raise(key="loan:42:call", kind=CALL, **kw):
    values = {
        "kind": kind,
        "title": "Margin call on L-42",
        "now": NOW,
        "dedupe_key": key,
        "subject_type": "loan",
        "subject_id": "42",
        "subject_url": "/loans/42/",
        "data": {"ltv": "0.86"},
    }
    values.update(kw)
    return alert_raise(**values)


def _endpoint(url, **kw):
    values = {
        "name": f"hook-{WebhookEndpoint.objects.count() + 1}",
        "url": url,
        "secret": SECRET,
        "kinds": [],
        "min_severity": "info",
        "is_active": True,
        "created_at": NOW,
        "updated_at": NOW,
    }
    values.update(kw)
    return WebhookEndpoint.objects.create(**values)


# ---------------------------------------------------------------- fan-out


def test_fan_out_emails_fixed_addresses_and_active_users_of_the_kinds_roles(settings):
    settings.ALERT_EMAIL_TO = ["desk@example.com", "DESK@example.com "]
    UserFactory(role="risk", username="r1", email="risk1@example.com")
    UserFactory(role="ops", username="o1", email="ops1@example.com")
    UserFactory(role="ops", username="o2", email="")  # no address
    UserFactory(role="ops", username="o3", email="gone@example.com", is_active=False)
    UserFactory(role="treasury", username="t1", email="treasury@example.com")  # not concerned
    call = _raise()
    notice = _raise(key="n1", kind=NOTICE, title="FYI")

    alerts, created = alert_deliveries_fan_out(now=NOW)

    assert (alerts, created) == (2, 5)
    by_alert = {
        a: set(AlertDelivery.objects.filter(alert=a).values_list("target", flat=True))
        for a in (call, notice)
    }
    assert by_alert[call] == {"desk@example.com", "risk1@example.com", "ops1@example.com"}
    assert by_alert[notice] == {"desk@example.com", "treasury@example.com"}
    assert set(AlertDelivery.objects.values_list("status", flat=True)) == {"pending"}
    assert Alert.objects.filter(fanned_out_at__isnull=True).count() == 0


def test_fan_out_twice_adds_nothing():
    UserFactory(role="risk", email="risk@example.com")
    _raise()
    assert alert_deliveries_fan_out(now=NOW) == (1, 1)
    assert alert_deliveries_fan_out(now=NOW) == (0, 0)
    assert AlertDelivery.objects.count() == 1


def test_webhook_endpoints_get_the_kinds_and_severities_they_ask_for(settings):
    settings.WEBHOOK_URLS = ["http://127.0.0.1:9/from-env"]
    settings.WEBHOOK_SECRET = "env-secret-0123456789"
    every = _endpoint("http://127.0.0.1:9/every")
    calls_only = _endpoint("http://127.0.0.1:9/calls", kinds=[CALL])
    critical = _endpoint("http://127.0.0.1:9/critical", min_severity="critical")
    _endpoint("http://127.0.0.1:9/off", is_active=False)
    call = _raise()
    notice = _raise(key="n", kind=NOTICE, title="FYI")

    alert_deliveries_fan_out(now=NOW)

    def hooks(alert):
        return set(
            AlertDelivery.objects.filter(alert=alert, channel="webhook").values_list(
                "target", flat=True
            )
        )

    env = "http://127.0.0.1:9/from-env"
    assert hooks(call) == {every.url, calls_only.url, critical.url, env}
    assert hooks(notice) == {every.url, env}
    assert AlertDelivery.objects.get(alert=call, target=env).endpoint is None


def test_fan_out_of_thousands_of_alerts_is_a_handful_of_queries():
    for i in range(3):
        UserFactory(role="risk", email=f"risk{i}@example.com")
    _endpoint("http://127.0.0.1:9/every")
    alerts_raise_many(
        [AlertSpec(kind=CALL, title=f"{i}", dedupe_key=f"k{i}") for i in range(1200)], now=NOW
    )
    with CaptureQueriesContext(connection) as ctx:
        alerts, created = alert_deliveries_fan_out(now=NOW)
    assert (alerts, created) == (1200, 1200 * 4)
    assert len(ctx.captured_queries) <= 30  # 3 batches of ~8, never one per alert


# ---------------------------------------------------------------- email


def test_email_lands_in_the_outbox_of_each_recipient_and_is_logged(settings):
    settings.ALERT_EMAIL_TO = ["desk@example.com"]
    settings.ALERT_LINK_BASE_URL = "https://desk.example.com"
    UserFactory(role="risk", email="risk@example.com")
    alert = _raise(body="LTV 0.86 is above the call level 0.80.")

    counts = alerts_deliver(now=NOW)

    assert counts["delivered"] == 2 and counts["failed"] == counts["retrying"] == 0
    assert sorted(m.to[0] for m in mail.outbox) == ["desk@example.com", "risk@example.com"]
    message = mail.outbox[0]
    assert message.subject == "[CRITICAL] Test margin call: Margin call on L-42"
    assert "LTV 0.86 is above the call level 0.80." in message.body
    assert "https://desk.example.com/loans/42/" in message.body
    assert f"https://desk.example.com/alerts/{alert.pk}/" in message.body
    assert message.extra_headers["X-Alert-Id"] == str(alert.pk)
    assert set(AlertDelivery.objects.values_list("status", "attempts")) == {("delivered", 1)}
    assert AlertDeliveryAttempt.objects.filter(ok=True).count() == 2


def test_an_email_backend_failure_is_retried(settings):
    settings.ALERT_EMAIL_TO = ["desk@example.com"]
    _raise()
    alert_deliveries_fan_out(now=NOW)
    with mock.patch(
        "django.core.mail.EmailMessage.send", side_effect=OSError("SMTP connection refused")
    ):
        counts = alert_deliveries_send(now=NOW)
    assert counts["retrying"] == 1
    d = AlertDelivery.objects.get()
    assert d.status == "pending" and "SMTP connection refused" in d.last_error
    counts = alert_deliveries_send(now=NOW + timedelta(seconds=31))
    assert counts["delivered"] == 1 and len(mail.outbox) == 1


# ---------------------------------------------------------------- webhooks


def test_a_webhook_is_posted_signed_to_a_real_server(receiver):
    rec = receiver([200])
    endpoint = _endpoint(rec.url)
    alert = _raise()

    counts = alerts_deliver(now=NOW)

    assert counts["delivered"] == 1
    [got] = rec.received
    headers = {k.lower(): v for k, v in got.headers.items()}
    assert headers["content-type"] == "application/json"
    assert headers["x-alert-id"] == str(alert.pk)
    timestamp = headers["x-alert-timestamp"]
    assert abs(int(timestamp) - int(NOW.timestamp())) <= 5
    signature = headers["x-alert-signature"]
    # The receiver's check, recomputed independently of the product's helper:
    import hashlib
    import hmac

    expected = hmac.new(
        SECRET.encode(), timestamp.encode() + b"." + got.body, hashlib.sha256
    ).hexdigest()
    assert signature == f"sha256={expected}"
    assert webhook_verify(SECRET, timestamp, got.body, signature, now=NOW)
    assert not webhook_verify("another-secret-0123456789", timestamp, got.body, signature)
    assert not webhook_verify(SECRET, timestamp, got.body + b" ", signature)
    assert not webhook_verify(SECRET, timestamp, got.body, signature, now=NOW + timedelta(hours=1))
    body = got.json
    assert body["id"] == alert.pk and body["kind"] == CALL and body["severity"] == "critical"
    assert body["status"] == "open" and body["title"] == "Margin call on L-42"
    assert body["subject"] == {"type": "loan", "id": "42", "url": "/loans/42/"}
    assert body["data"] == {"ltv": "0.86"}
    assert body["raised_at"] == "2026-11-21T09:30:00Z"
    d = AlertDelivery.objects.get()
    assert (d.status, d.attempts, d.endpoint_id) == ("delivered", 1, endpoint.pk)
    attempt = AlertDeliveryAttempt.objects.get()
    assert (attempt.ok, attempt.http_status, attempt.signature) == (True, 200, signature)


def test_env_webhooks_are_signed_with_the_env_secret(receiver, settings):
    rec = receiver([204])
    settings.WEBHOOK_URLS = [rec.url]
    settings.WEBHOOK_SECRET = "env-secret-0123456789"
    _raise()

    alerts_deliver(now=NOW)

    [got] = rec.received
    assert webhook_verify(
        "env-secret-0123456789",
        got.headers["X-Alert-Timestamp"],
        got.body,
        got.headers["X-Alert-Signature"],
    )
    assert AlertDelivery.objects.get().status == "delivered"


def test_signature_helper_matches_the_documented_recipe():
    import hashlib
    import hmac

    body = b'{"id":1}'
    mac = hmac.new(b"s3cret", b"1700000000." + body, hashlib.sha256).hexdigest()
    assert webhook_signature("s3cret", 1700000000, body) == "sha256=" + mac
    assert webhook_verify("s3cret", "1700000000", body, "sha256=" + mac)
    assert not webhook_verify("s3cret", "not-a-time", body, "sha256=" + mac)


def test_a_failing_endpoint_is_retried_with_growing_backoff_until_delivered(receiver):
    rec = receiver([500, 503, 200])
    _endpoint(rec.url)
    _raise()
    alert_deliveries_fan_out(now=NOW)

    first = alert_deliveries_send(now=NOW)
    d1 = AlertDelivery.objects.get()
    assert first["retrying"] == 1
    assert (d1.status, d1.attempts) == ("pending", 1) and "HTTP 500" in d1.last_error
    wait1 = d1.next_attempt_at - NOW
    assert timedelta(seconds=30) <= wait1 < timedelta(seconds=35)

    assert alert_deliveries_send(now=NOW + timedelta(seconds=20))["claimed"] == 0  # not yet due

    t2 = NOW + timedelta(seconds=31)
    alert_deliveries_send(now=t2)
    d2 = AlertDelivery.objects.get()
    assert (d2.status, d2.attempts) == ("pending", 2) and "HTTP 503" in d2.last_error
    wait2 = d2.next_attempt_at - t2
    assert timedelta(seconds=60) <= wait2 < timedelta(seconds=65)
    assert wait2 > wait1

    t3 = d2.next_attempt_at + timedelta(seconds=1)
    assert alert_deliveries_send(now=t3)["delivered"] == 1
    d3 = AlertDelivery.objects.get()
    assert (d3.status, d3.attempts, d3.next_attempt_at, d3.last_error) == ("delivered", 3, None, "")
    log = list(
        AlertDeliveryAttempt.objects.order_by("number").values_list("number", "ok", "http_status")
    )
    assert log == [(1, False, 500), (2, False, 503), (3, True, 200)]
    assert len(rec.received) == 3


def test_after_the_last_attempt_the_delivery_is_failed(receiver, settings):
    settings.ALERT_DELIVERY_MAX_ATTEMPTS = 3
    rec = receiver([500])
    _endpoint(rec.url)
    _raise()
    alert_deliveries_fan_out(now=NOW)

    at = NOW
    for _ in range(3):
        alert_deliveries_send(now=at)
        at += timedelta(hours=2)

    d = AlertDelivery.objects.get()
    assert (d.status, d.attempts, d.next_attempt_at) == ("failed", 3, None)
    assert "HTTP 500" in d.last_error and "receiver says no" in d.last_error
    assert alert_deliveries_send(now=at + timedelta(days=1))["claimed"] == 0
    assert len(rec.received) == 3 and AlertDeliveryAttempt.objects.count() == 3


def test_backoff_doubles_and_is_capped(settings):
    settings.ALERT_DELIVERY_BACKOFF_MAX_SECONDS = 600
    waits = [backoff(n).total_seconds() for n in range(1, 8)]
    assert waits == [30, 60, 120, 240, 480, 600, 600]


def test_an_unreachable_endpoint_is_a_logged_failed_attempt():
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    _endpoint(f"http://127.0.0.1:{port}/hook")
    _raise()
    counts = alerts_deliver(now=NOW)
    assert counts["retrying"] == 1
    attempt = AlertDeliveryAttempt.objects.get()
    assert attempt.ok is False and attempt.http_status is None
    assert "connection failed" in attempt.error


def test_a_slow_endpoint_times_out(receiver, settings):
    settings.WEBHOOK_TIMEOUT_SECONDS = 0.3
    rec = receiver([200], delay_seconds=1.5)
    _endpoint(rec.url)
    _raise()
    counts = alerts_deliver(now=NOW)
    assert counts["retrying"] == 1
    assert "timed out" in AlertDelivery.objects.get().last_error.lower()


def test_a_redirect_is_not_followed(receiver):
    rec = receiver([302])
    _endpoint(rec.url)
    _raise()
    alerts_deliver(now=NOW)
    d = AlertDelivery.objects.get()
    assert d.status == "pending" and "302" in d.last_error


def test_a_deactivated_endpoint_fails_its_waiting_deliveries_without_sending(receiver):
    rec = receiver([200])
    endpoint = _endpoint(rec.url)
    _raise()
    alert_deliveries_fan_out(now=NOW)
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(is_active=False)

    counts = alert_deliveries_send(now=NOW)

    assert counts["failed"] == 1 and rec.received == []
    assert AlertDelivery.objects.get().last_error == "the endpoint was deactivated"


# ---------------------------------------------------------------- claims, leases, transactions


def test_sending_is_refused_inside_a_transaction():
    with pytest.raises(RuntimeError, match="transaction"), transaction.atomic():
        alert_deliveries_send(now=NOW)


def test_the_post_happens_after_the_claim_committed_and_with_no_lock_held(receiver):
    """Inside the HTTP handler (another thread, its own connection), the delivery is already
    committed as `sending` and can be locked at once: the sender holds no transaction."""
    seen = {}

    def check(got):
        from django.db import connection as handler_connection

        try:
            with handler_connection.cursor() as cur:
                cur.execute(
                    "SELECT status, attempts FROM alerts_alertdelivery "
                    "WHERE alert_id = %s FOR UPDATE NOWAIT",
                    [int(got.headers["X-Alert-Id"])],
                )
                seen["row"] = cur.fetchone()
        except Exception as exc:
            seen["error"] = exc
        finally:
            handler_connection.close()

    rec = receiver([200], on_request=check)
    _endpoint(rec.url)
    _raise()

    alerts_deliver(now=NOW)

    assert "error" not in seen, seen.get("error")
    assert seen["row"] == ("sending", 1)
    assert AlertDelivery.objects.get().status == "delivered"


def test_a_claim_is_a_lease_a_crashed_sender_loses_after_it_expires(receiver):
    rec = receiver([200])
    _endpoint(rec.url)
    _raise()
    alert_deliveries_fan_out(now=NOW)
    # A sender claims the delivery and dies before recording anything.
    [claimed] = delivery._claim(now=NOW, limit=10)
    d = AlertDelivery.objects.get()
    assert (d.status, d.attempts) == ("sending", 1)
    assert d.next_attempt_at >= NOW + timedelta(minutes=5)

    assert alert_deliveries_send(now=NOW + timedelta(minutes=1))["claimed"] == 0
    assert rec.received == []

    counts = alert_deliveries_send(now=d.next_attempt_at + timedelta(seconds=1))
    assert counts["delivered"] == 1
    d.refresh_from_db()
    assert (d.status, d.attempts) == ("delivered", 2)
    # The dead sender's late result is not recorded over the new one.
    delivery._record(claimed, delivery._Outcome(ok=False, error="late"), at=NOW)
    d.refresh_from_db()
    assert d.status == "delivered"


def test_concurrent_senders_send_each_delivery_exactly_once(receiver):
    rec = receiver([200], delay_seconds=0.05)
    _endpoint(rec.url)
    alerts_raise_many(
        [AlertSpec(kind=CALL, title=f"{i}", dedupe_key=f"k{i}") for i in range(30)], now=NOW
    )
    alert_deliveries_fan_out(now=NOW)

    results = run_in_threads(4, lambda i: alert_deliveries_send(now=NOW, batch_size=3))

    assert not [r for r in results if isinstance(r, Exception)], results
    assert sum(r["delivered"] for r in results) == 30
    ids = sorted(int(g.headers["X-Alert-Id"]) for g in rec.received)
    assert ids == sorted(Alert.objects.values_list("id", flat=True))
    assert set(AlertDelivery.objects.values_list("status", "attempts")) == {("delivered", 1)}


def test_concurrent_fan_outs_create_each_delivery_once():
    UserFactory(role="risk", email="risk@example.com")
    alerts_raise_many(
        [AlertSpec(kind=CALL, title=f"{i}", dedupe_key=f"k{i}") for i in range(200)], now=NOW
    )
    results = run_in_threads(3, lambda i: alert_deliveries_fan_out(now=NOW, batch_size=20))
    assert not [r for r in results if isinstance(r, Exception)], results
    assert sum(r[0] for r in results) == 200
    assert AlertDelivery.objects.count() == 200


# ---------------------------------------------------------------- the job


def test_deliver_alerts_is_a_registered_job_run_every_minute():
    from celery.schedules import crontab

    job = job_registry.get("deliver_alerts")
    assert job.schedule == crontab()  # every minute
    assert "deliver_alerts" in job_registry.beat_schedule()


def test_run_job_deliver_alerts_delivers_and_records_a_job_run(settings):
    settings.ALERT_EMAIL_TO = ["desk@example.com"]
    _raise()

    call_command("run_job", "deliver_alerts")

    run = JobRun.objects.get(job="deliver_alerts")
    assert run.status == "succeeded"
    assert run.counts["delivered"] == 1 and run.counts["alerts_fanned_out"] == 1
    assert [m.to for m in mail.outbox] == [["desk@example.com"]]


def test_a_send_that_breaks_unexpectedly_is_a_failed_attempt_not_a_crash(settings):
    settings.ALERT_EMAIL_TO = ["desk@example.com"]
    _raise()
    with mock.patch.object(delivery, "email_body", side_effect=KeyError("template")):
        counts = alerts_deliver(now=NOW)
    assert counts["retrying"] == 1
    assert "KeyError" in AlertDelivery.objects.get().last_error


def test_an_alert_raised_while_the_job_runs_is_delivered_by_the_same_run(settings):
    settings.ALERT_EMAIL_TO = ["desk@example.com"]
    _raise(key="first")
    original = delivery.alert_deliveries_send
    raised = threading.Event()

    def send_and_raise_another(*, now, **kw):
        result = original(now=now, **kw)
        if not raised.is_set():
            raised.set()
            _raise(key="second", title="raised meanwhile")
        return result

    with mock.patch.object(delivery, "alert_deliveries_send", send_and_raise_another):
        counts = alerts_deliver(now=NOW)

    assert counts["alerts_fanned_out"] == 2 and counts["delivered"] == 2
    assert len(mail.outbox) == 2
