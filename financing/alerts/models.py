"""Alerts, their events, and their deliveries by email and webhook.

One alert per condition: while an alert with a given dedupe_key is open or acknowledged, raising
the same key again bumps that alert (last_seen_at, occurrences) instead of adding a second one.
The partial unique index below is what guarantees it, whatever the concurrency.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from simple_history.models import HistoricalRecords

#: The partial unique index alert_raise's INSERT ... ON CONFLICT targets.
ONE_LIVE_ALERT_PER_KEY = "alert_one_live_per_dedupe_key"


class Severity(models.TextChoices):
    INFO = "info", "Info"
    WARNING = "warning", "Warning"
    CRITICAL = "critical", "Critical"


SEVERITY_RANK = {Severity.INFO: 0, Severity.WARNING: 1, Severity.CRITICAL: 2}


class AlertStatus(models.TextChoices):
    OPEN = "open", "Open"
    ACKNOWLEDGED = "acknowledged", "Acknowledged"
    RESOLVED = "resolved", "Resolved"


#: The only moves an alert makes. Resolved is final: the condition coming back raises a new alert.
TRANSITIONS: dict[str, frozenset[str]] = {
    AlertStatus.OPEN: frozenset({AlertStatus.ACKNOWLEDGED, AlertStatus.RESOLVED}),
    AlertStatus.ACKNOWLEDGED: frozenset({AlertStatus.RESOLVED}),
    AlertStatus.RESOLVED: frozenset(),
}
LIVE_STATUSES = (AlertStatus.OPEN, AlertStatus.ACKNOWLEDGED)


class Alert(models.Model):
    kind = models.CharField(max_length=64)
    severity = models.CharField(max_length=16, choices=Severity.choices)
    title = models.CharField(max_length=200)
    body = models.TextField(blank=True, default="")
    #: What the alert is about, as strings so that any app's object fits: "loan", "42", "/loans/42/".
    subject_type = models.CharField(max_length=64, blank=True, default="")
    subject_id = models.CharField(max_length=64, blank=True, default="")
    subject_url = models.CharField(max_length=500, blank=True, default="")
    dedupe_key = models.CharField(max_length=200, blank=True, default="")
    data = models.JSONField(encoder=DjangoJSONEncoder, default=dict, blank=True)
    status = models.CharField(max_length=16, choices=AlertStatus.choices, default=AlertStatus.OPEN)
    raised_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()
    occurrences = models.PositiveIntegerField(default=1)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    #: Null with resolved_at set: the system resolved it (the condition cleared).
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolution_note = models.TextField(blank=True, default="")
    #: When the delivery job created this alert's deliveries; null = not yet (the job's work list).
    fanned_out_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-raised_at", "-id"]
        indexes = [
            models.Index(fields=["status", "-raised_at"], name="alert_status_raised"),
            models.Index(fields=["kind", "status"], name="alert_kind_status"),
            models.Index(fields=["subject_type", "subject_id"], name="alert_subject"),
            models.Index(
                fields=["id"],
                condition=models.Q(fanned_out_at__isnull=True),
                name="alert_to_fan_out",
            ),
            # alerts_resolve(dedupe_prefix=...) is a LIKE 'prefix%' over the live alerts.
            models.Index(
                fields=["dedupe_key"],
                opclasses=["varchar_pattern_ops"],
                condition=~models.Q(status="resolved") & ~models.Q(dedupe_key=""),
                name="alert_live_key_prefix",
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["dedupe_key"],
                condition=~models.Q(status="resolved") & ~models.Q(dedupe_key=""),
                name=ONE_LIVE_ALERT_PER_KEY,
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=AlertStatus.values), name="alert_status_known"
            ),
            models.CheckConstraint(
                condition=models.Q(severity__in=Severity.values), name="alert_severity_known"
            ),
            models.CheckConstraint(
                condition=models.Q(occurrences__gte=1), name="alert_occurs_at_least_once"
            ),
            models.CheckConstraint(
                condition=models.Q(last_seen_at__gte=models.F("raised_at")),
                name="alert_seen_after_raised",
            ),
            models.CheckConstraint(
                condition=models.Q(status="resolved", resolved_at__isnull=False)
                | (~models.Q(status="resolved") & models.Q(resolved_at__isnull=True)),
                name="alert_resolved_at_matches_status",
            ),
            models.CheckConstraint(
                condition=~models.Q(status="acknowledged")
                | models.Q(acknowledged_at__isnull=False),
                name="alert_acknowledged_has_time",
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.kind}: {self.title}"

    @property
    def is_live(self) -> bool:
        return self.status in LIVE_STATUSES

    @property
    def kind_label(self) -> str:
        from financing.alerts.registry import kind_label

        return kind_label(self.kind)


class AlertEvent(models.Model):
    """One row per status move of an alert (raised, acknowledged, resolved). Append-only."""

    alert = models.ForeignKey(Alert, on_delete=models.PROTECT, related_name="events")
    at = models.DateTimeField()
    #: Null: the system (a job or a service that cleared the condition).
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    from_status = models.CharField(max_length=16, blank=True, default="")
    to_status = models.CharField(max_length=16, choices=AlertStatus.choices)
    note = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["at", "id"]
        indexes = [models.Index(fields=["alert", "at"], name="alertevent_alert_at")]

    def __str__(self) -> str:
        return f"alert #{self.alert_id}: {self.from_status or '-'} -> {self.to_status}"


class WebhookEndpoint(models.Model):
    """A receiver of alerts by HTTP POST, signed with its own secret. The endpoints listed in
    settings.WEBHOOK_URLS (signed with settings.WEBHOOK_SECRET) are not rows: the delivery job
    reads them from settings each time, so changing the environment is the whole change."""

    name = models.CharField(max_length=100, unique=True)
    url = models.URLField(max_length=500)
    secret = models.CharField(max_length=200)
    #: The kinds sent to this endpoint; empty = every kind.
    kinds = ArrayField(models.CharField(max_length=64), default=list, blank=True)
    min_severity = models.CharField(max_length=16, choices=Severity.choices, default=Severity.INFO)
    is_active = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    history = HistoricalRecords(excluded_fields=["secret"])

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(min_severity__in=Severity.values),
                name="webhook_min_severity_known",
            ),
            models.CheckConstraint(
                condition=models.Q(url__regex=r"^https?://"), name="webhook_url_is_http"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def wants(self, kind: str, severity: str) -> bool:
        if self.kinds and kind not in self.kinds:
            return False
        return SEVERITY_RANK.get(severity, 0) >= SEVERITY_RANK.get(self.min_severity, 0)


class Channel(models.TextChoices):
    EMAIL = "email", "Email"
    WEBHOOK = "webhook", "Webhook"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SENDING = "sending", "Sending"
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Failed"


class AlertDelivery(models.Model):
    """One alert to one recipient (an email address or a webhook URL). The delivery job claims
    what is due, sends outside any transaction, and records the result; while `sending`,
    next_attempt_at is the lease after which another run may take the delivery over."""

    alert = models.ForeignKey(Alert, on_delete=models.PROTECT, related_name="deliveries")
    channel = models.CharField(max_length=16, choices=Channel.choices)
    target = models.CharField(max_length=500)
    #: The endpoint row of a webhook; null for email and for settings.WEBHOOK_URLS.
    endpoint = models.ForeignKey(
        WebhookEndpoint,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="deliveries",
    )
    status = models.CharField(
        max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField()
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "alert deliveries"
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                condition=models.Q(status__in=["pending", "sending"]),
                name="delivery_due",
            ),
            models.Index(fields=["status", "-created_at"], name="delivery_status_created"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["alert", "channel", "target"], name="delivery_one_per_recipient"
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=DeliveryStatus.values),
                name="delivery_status_known",
            ),
            models.CheckConstraint(
                condition=models.Q(channel__in=Channel.values), name="delivery_channel_known"
            ),
            models.CheckConstraint(
                condition=~models.Q(status__in=["pending", "sending"])
                | models.Q(next_attempt_at__isnull=False),
                name="delivery_due_has_time",
            ),
            models.CheckConstraint(
                condition=models.Q(status="delivered", delivered_at__isnull=False)
                | (~models.Q(status="delivered") & models.Q(delivered_at__isnull=True)),
                name="delivery_delivered_at_matches_status",
            ),
        ]

    def __str__(self) -> str:
        return f"alert #{self.alert_id} {self.channel} {self.target}: {self.status}"


class AlertDeliveryAttempt(models.Model):
    """One try at sending a delivery, whatever its outcome. Append-only."""

    delivery = models.ForeignKey(
        AlertDelivery, on_delete=models.PROTECT, related_name="attempt_log"
    )
    number = models.PositiveSmallIntegerField()
    at = models.DateTimeField()
    duration_ms = models.PositiveIntegerField(default=0)
    ok = models.BooleanField()
    http_status = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.TextField(blank=True, default="")
    #: The X-Alert-Signature header sent (webhooks), so a receiver's complaint can be checked.
    signature = models.CharField(max_length=100, blank=True, default="")

    class Meta:
        ordering = ["delivery", "number"]
        constraints = [
            models.UniqueConstraint(fields=["delivery", "number"], name="attempt_number_unique")
        ]

    def __str__(self) -> str:
        return (
            f"delivery #{self.delivery_id} attempt {self.number}: {'ok' if self.ok else 'failed'}"
        )
