"""The alerts service: the public interface other apps call to raise and clear alerts, and the
actions people take on them (acknowledge, resolve), plus webhook endpoint configuration.

Raising writes rows and nothing else (no network I/O). After the transaction commits it queues
the `deliver_alerts` job, which creates the email and webhook deliveries and sends them
(financing.alerts.delivery); the job also runs every minute, so a lost task costs a minute.

Deduplication is the database's: while an alert with a dedupe_key is open or acknowledged, the
partial unique index ONE_LIVE_ALERT_PER_KEY makes a second raise of that key an
INSERT ... ON CONFLICT DO UPDATE that bumps the live alert's last_seen_at and occurrences,
whatever the concurrency. A resolved alert frees its key: the next raise opens a new alert.
A repeat raise does not change the alert's content or severity: a condition that worsens is
another kind (margin_warning, then margin_call) with its own key.
"""

from __future__ import annotations

from financing.alerts.services.actions import (
    NOTE_MAX,
    alert_acknowledge,
    alert_transition,
    alerts_resolve,
)
from financing.alerts.services.endpoints import (
    SECRET_MIN,
    webhook_endpoint_create,
    webhook_endpoint_update,
)
from financing.alerts.services.raising import (
    DELIVERY_JOB,
    AlertSpec,
    alert_raise,
    alerts_raise_many,
)
from financing.alerts.webhooks import webhook_signature, webhook_verify

__all__ = [
    "DELIVERY_JOB",
    "NOTE_MAX",
    "SECRET_MIN",
    "AlertSpec",
    "alert_acknowledge",
    "alert_raise",
    "alert_transition",
    "alerts_raise_many",
    "alerts_resolve",
    "webhook_endpoint_create",
    "webhook_endpoint_update",
    "webhook_signature",
    "webhook_verify",
]
