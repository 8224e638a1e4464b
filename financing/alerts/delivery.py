"""Delivering alerts, driven by state: the `deliver_alerts` job computes what is missing from
the database and does it, so a lost or repeated run costs nothing.

1. Fan-out: every alert not yet fanned out gets one AlertDelivery per recipient: email to
   settings.ALERT_EMAIL_TO and to the active users (with an email) of the roles its kind
   concerns; webhook to every active WebhookEndpoint that wants its kind and severity and to
   every URL in settings.WEBHOOK_URLS (signed with settings.WEBHOOK_SECRET).
2. Send: due deliveries are claimed in a short transaction (SELECT ... FOR UPDATE SKIP
   LOCKED, marked `sending` with next_attempt_at as a lease), the transaction commits, the
   email or HTTP POST goes out with no transaction open, and the result is recorded with an
   append-only attempt row. A failure is retried with exponential backoff until
   ALERT_DELIVERY_MAX_ATTEMPTS, then the delivery is `failed` (shown on the deliveries page).
   A worker that dies mid-send leaves its claim to expire; the next run takes it over.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import EmailMessage
from django.db import connection, transaction
from django.db.models import F
from django.urls import reverse

from financing.alerts import registry
from financing.alerts.models import (
    Alert,
    AlertDelivery,
    AlertDeliveryAttempt,
    Channel,
    DeliveryStatus,
    WebhookEndpoint,
)
from financing.alerts.webhooks import ERROR_MAX, link, webhook_body, webhook_post

log = logging.getLogger(__name__)

FAN_OUT_BATCH = 500
SEND_BATCH = 20
#: Rounds of fan-out + send per job run: alerts raised while the job runs are picked up by the
#: same run (a run queued meanwhile finds the lock taken and is skipped).
MAX_ROUNDS = 5


def max_attempts() -> int:
    return max(1, int(getattr(settings, "ALERT_DELIVERY_MAX_ATTEMPTS", 8)))


def backoff(attempts: int) -> timedelta:
    """The wait after the `attempts`-th failure: 30 s, 1 min, 2 min, 4 min, ... capped."""
    base = int(getattr(settings, "ALERT_DELIVERY_BACKOFF_SECONDS", 30))
    cap = int(getattr(settings, "ALERT_DELIVERY_BACKOFF_MAX_SECONDS", 3600))
    return timedelta(seconds=min(cap, base * 2 ** max(0, attempts - 1)))


def lease(batch: int) -> timedelta:
    """How long a claim holds: long enough to send the whole batch one after the other."""
    per_send = float(getattr(settings, "WEBHOOK_TIMEOUT_SECONDS", 5.0)) + 5
    return timedelta(seconds=max(300, batch * per_send))


def _clock(now: datetime) -> Callable[[], datetime]:
    """The run's clock: `now` as the job received it, advanced by the real time elapsed, so a
    test that passes a fixed `now` stays in control while leases still track a long run."""
    started = time.monotonic()
    return lambda: now + timedelta(seconds=time.monotonic() - started)


# ---------------------------------------------------------------- the job


def alerts_deliver(*, now: datetime) -> dict[str, int]:
    """The `deliver_alerts` job: fan out new alerts, then send what is due, a few rounds."""
    clock = _clock(now)
    totals = {"alerts_fanned_out": 0, "deliveries_created": 0}
    totals.update(dict.fromkeys(("delivered", "retrying", "failed"), 0))
    for _ in range(MAX_ROUNDS):
        fanned, created = alert_deliveries_fan_out(now=clock())
        sent = alert_deliveries_send(now=clock())
        totals["alerts_fanned_out"] += fanned
        totals["deliveries_created"] += created
        for key in ("delivered", "retrying", "failed"):
            totals[key] += sent[key]
        if not fanned and not sent["claimed"]:
            break
    return totals


# ---------------------------------------------------------------- fan-out


def alert_deliveries_fan_out(*, now: datetime, batch_size: int = FAN_OUT_BATCH) -> tuple[int, int]:
    """Create the deliveries of every alert not fanned out yet. Returns (alerts, deliveries).
    Concurrent runs split the alerts between them (SKIP LOCKED); a repeat adds nothing
    (one delivery per alert, channel and target is unique)."""
    alerts_done = deliveries_done = 0
    while True:
        with transaction.atomic():
            batch = list(
                Alert.objects.filter(fanned_out_at__isnull=True)
                .order_by("id")
                .select_for_update(skip_locked=True, of=("self",))
                .only("id", "kind", "severity")[:batch_size]
            )
            if not batch:
                break
            deliveries = _deliveries_for(batch, now=now)
            created = AlertDelivery.objects.bulk_create(
                deliveries, ignore_conflicts=True, batch_size=2000
            )
            Alert.objects.filter(pk__in=[a.pk for a in batch]).update(fanned_out_at=now)
        alerts_done += len(batch)
        deliveries_done += len(created)
        if len(batch) < batch_size:
            break
    return alerts_done, deliveries_done


def _deliveries_for(alerts: list[Alert], *, now: datetime) -> list[AlertDelivery]:
    kinds = {a.kind: registry.find_kind(a.kind) for a in alerts}
    roles = {role for k in kinds.values() if k is not None for role in k.roles}
    emails_by_role: dict[str, list[str]] = {}
    if roles:
        users = (
            get_user_model()
            .objects.filter(is_active=True, role__in=sorted(roles))
            .exclude(email="")
            .order_by("pk")
            .values_list("role", "email")
        )
        for role, email in users:
            emails_by_role.setdefault(role, []).append(email.strip())
    fixed = [e.strip() for e in getattr(settings, "ALERT_EMAIL_TO", []) if e and e.strip()]
    endpoints = list(WebhookEndpoint.objects.filter(is_active=True).order_by("pk"))
    urls = [u.strip() for u in getattr(settings, "WEBHOOK_URLS", []) if u and u.strip()]

    out: list[AlertDelivery] = []
    for alert in alerts:
        kind = kinds[alert.kind]
        seen: set[str] = set()
        recipients = list(fixed)
        for role in kind.roles if kind else ():
            recipients += emails_by_role.get(role, [])
        for email in recipients:
            if email.lower() in seen:
                continue
            seen.add(email.lower())
            out.append(_delivery(alert, Channel.EMAIL, email[:500], None, now))
        hooks = [(e.url, e) for e in endpoints if e.wants(alert.kind, alert.severity)]
        hooks += [(u, None) for u in urls]
        seen.clear()
        for url, endpoint in hooks:
            if url in seen:
                continue
            seen.add(url)
            out.append(_delivery(alert, Channel.WEBHOOK, url[:500], endpoint, now))
    return out


def _delivery(alert, channel, target, endpoint, now) -> AlertDelivery:
    return AlertDelivery(
        alert_id=alert.pk,
        channel=channel,
        target=target,
        endpoint=endpoint,
        status=DeliveryStatus.PENDING,
        next_attempt_at=now,
        created_at=now,
    )


# ---------------------------------------------------------------- send


@dataclass(frozen=True)
class _Outcome:
    ok: bool
    error: str = ""
    http_status: int | None = None
    signature: str = ""
    duration_ms: int = 0
    #: A failure no retry can fix (the endpoint was deactivated).
    final: bool = False


def alert_deliveries_send(
    *, now: datetime, limit: int = 500, batch_size: int = SEND_BATCH
) -> dict[str, int]:
    """Send every due delivery (at most `limit` this call), batch by batch: claim, commit,
    send with no transaction open, record. Returns counts of claimed, delivered, retrying
    and failed."""
    if connection.in_atomic_block:
        raise RuntimeError("alert delivery does network I/O: never call it inside a transaction")
    clock = _clock(now)
    counts = dict.fromkeys(("claimed", "delivered", "retrying", "failed"), 0)
    while counts["claimed"] < limit:
        claimed = _claim(now=clock(), limit=min(batch_size, limit - counts["claimed"]))
        if not claimed:
            break
        counts["claimed"] += len(claimed)
        for delivery in claimed:
            at = clock()
            outcome = _send(delivery, at=at)
            counts[_record(delivery, outcome, at=at)] += 1
        if len(claimed) < batch_size:
            break
    return counts


def _claim(*, now: datetime, limit: int) -> list[AlertDelivery]:
    """Take up to `limit` due deliveries: pending ones whose time has come and `sending` ones
    whose claim expired (a run that died). Committed before anything is sent."""
    with transaction.atomic():
        ids = list(
            AlertDelivery.objects.filter(
                status__in=[DeliveryStatus.PENDING, DeliveryStatus.SENDING],
                next_attempt_at__lte=now,
            )
            .order_by("next_attempt_at", "id")
            .select_for_update(skip_locked=True, of=("self",))
            .values_list("id", flat=True)[:limit]
        )
        if not ids:
            return []
        AlertDelivery.objects.filter(pk__in=ids).update(
            status=DeliveryStatus.SENDING,
            attempts=F("attempts") + 1,
            next_attempt_at=now + lease(limit),
        )
    return list(
        AlertDelivery.objects.filter(pk__in=ids)
        .select_related("alert", "endpoint")
        .order_by("next_attempt_at", "id")
    )


def _send(delivery: AlertDelivery, *, at: datetime) -> _Outcome:
    if connection.in_atomic_block:  # style.md: no network I/O inside a transaction
        raise RuntimeError("refusing to send an alert inside a transaction")
    try:
        if delivery.channel == Channel.EMAIL:
            return _send_email(delivery)
        return _send_webhook(delivery, at=at)
    except Exception as exc:  # a send that breaks is a failed attempt, never a lost delivery
        log.exception("alert delivery #%s failed unexpectedly", delivery.pk)
        return _Outcome(ok=False, error=f"{type(exc).__name__}: {exc}"[:ERROR_MAX])


def _send_email(delivery: AlertDelivery) -> _Outcome:
    alert = delivery.alert
    started = time.monotonic()
    try:
        message = EmailMessage(
            subject=email_subject(alert),
            body=email_body(alert),
            from_email=settings.DEFAULT_FROM_EMAIL,
            to=[delivery.target],
            headers={"X-Alert-Id": str(alert.pk), "X-Alert-Kind": alert.kind},
        )
        sent = message.send(fail_silently=False)
    except Exception as exc:  # SMTP refusals, timeouts, bad addresses
        return _Outcome(
            ok=False,
            error=f"{type(exc).__name__}: {exc}"[:ERROR_MAX],
            duration_ms=int((time.monotonic() - started) * 1000),
        )
    duration = int((time.monotonic() - started) * 1000)
    if not sent:
        return _Outcome(ok=False, error="the email backend sent nothing", duration_ms=duration)
    return _Outcome(ok=True, duration_ms=duration)


def _send_webhook(delivery: AlertDelivery, *, at: datetime) -> _Outcome:
    endpoint = delivery.endpoint
    if endpoint is not None:
        if not endpoint.is_active:
            return _Outcome(ok=False, error="the endpoint was deactivated", final=True)
        url, secret = endpoint.url, endpoint.secret
    else:
        url, secret = delivery.target, getattr(settings, "WEBHOOK_SECRET", "") or ""
    result = webhook_post(
        url=url,
        secret=secret,
        alert_id=delivery.alert_id,
        body=webhook_body(delivery.alert),
        timestamp=int(at.timestamp()),
        timeout=float(getattr(settings, "WEBHOOK_TIMEOUT_SECONDS", 5.0)),
    )
    return _Outcome(
        ok=result.ok,
        error=result.error,
        http_status=result.http_status,
        signature=result.signature,
        duration_ms=result.duration_ms,
    )


def _record(delivery: AlertDelivery, outcome: _Outcome, *, at: datetime) -> str:
    """Log the attempt and move the delivery, if this run still holds its claim."""
    number = delivery.attempts
    if outcome.ok:
        status, fields = (
            DeliveryStatus.DELIVERED,
            {"delivered_at": at, "next_attempt_at": None, "last_error": ""},
        )
        key = "delivered"
    elif outcome.final or number >= max_attempts():
        status, fields = DeliveryStatus.FAILED, {"next_attempt_at": None}
        key = "failed"
    else:
        status, fields = DeliveryStatus.PENDING, {"next_attempt_at": at + backoff(number)}
        key = "retrying"
    if not outcome.ok:
        fields["last_error"] = outcome.error or "failed"
    with transaction.atomic():
        AlertDeliveryAttempt.objects.create(
            delivery_id=delivery.pk,
            number=number,
            at=at,
            duration_ms=max(0, outcome.duration_ms),
            ok=outcome.ok,
            http_status=outcome.http_status,
            error=outcome.error[:ERROR_MAX],
            signature=outcome.signature,
        )
        moved = AlertDelivery.objects.filter(
            pk=delivery.pk, status=DeliveryStatus.SENDING, attempts=number
        ).update(status=status, **fields)
    if not moved:
        log.warning("alert delivery #%s was taken over while sending", delivery.pk)
    return key


# ---------------------------------------------------------------- email content


def email_subject(alert: Alert) -> str:
    text = f"[{alert.severity.upper()}] {registry.kind_label(alert.kind)}: {alert.title}"
    return " ".join(text.split())[:250]


def email_body(alert: Alert) -> str:
    lines = [alert.title, ""]
    if alert.body:
        lines += [alert.body, ""]
    lines += [
        f"Kind:      {registry.kind_label(alert.kind)} ({alert.kind})",
        f"Severity:  {alert.severity}",
        f"Raised at: {alert.raised_at.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC",
    ]
    if alert.subject_type or alert.subject_id:
        lines.append(f"Subject:   {alert.subject_type} {alert.subject_id}".rstrip())
    if alert.subject_url:
        lines.append(f"Open:      {link(alert.subject_url)}")
    lines.append(f"Alert:     {link(reverse('alerts:detail', args=[alert.pk]))}")
    return "\n".join(lines) + "\n"
