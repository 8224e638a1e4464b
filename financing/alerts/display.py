"""How alerts and deliveries read on the pages and in the API: tones, UTC times, and webhook
URLs masked for those who do not configure webhooks (such URLs often carry a token)."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import urlsplit

from financing.accounts.roles import can
from financing.alerts.models import AlertDelivery, AlertStatus, Channel, DeliveryStatus, Severity

SEVERITY_TONE = {Severity.CRITICAL: "bad", Severity.WARNING: "warn", Severity.INFO: "neutral"}
STATUS_TONE = {
    AlertStatus.OPEN: "bad",
    AlertStatus.ACKNOWLEDGED: "warn",
    AlertStatus.RESOLVED: "ok",
}
DELIVERY_TONE = {
    DeliveryStatus.PENDING: "neutral",
    DeliveryStatus.SENDING: "neutral",
    DeliveryStatus.DELIVERED: "ok",
    DeliveryStatus.FAILED: "bad",
}


def utc(at: datetime | None) -> str:
    """A time in a column whose header already says UTC."""
    return "" if at is None else at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def utc_of(attr: str):
    return lambda obj: utc(getattr(obj, attr))


def masked_url(url: str) -> str:
    """Scheme and host only: webhook URLs often carry a token in their path or query."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}/…" if parts.netloc else "…"


def delivery_target(delivery: AlertDelivery, user) -> str:
    """Who a delivery goes to, as this user may see it: webhook URLs in full only for those
    who configure webhooks (the others see the endpoint's name or the host)."""
    if delivery.channel != Channel.WEBHOOK or can(user, "alerts.configure"):
        return delivery.target
    if delivery.endpoint_id is not None:
        return f"{delivery.endpoint.name} ({masked_url(delivery.target)})"
    return masked_url(delivery.target)


def attempts_text(delivery: AlertDelivery) -> str:
    parts = []
    for a in delivery.attempt_log.all():
        outcome = "ok" if a.ok else (a.error or "failed")
        status = f" HTTP {a.http_status}" if a.http_status and not a.ok else ""
        parts.append(
            f"#{a.number} {a.at.astimezone(UTC):%H:%M:%S} {outcome}{status} ({a.duration_ms} ms)"
        )
    return "; ".join(parts)
