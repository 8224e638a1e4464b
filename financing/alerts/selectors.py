"""Reads of alerts, deliveries and webhook endpoints, shaped for the pages and the API."""

from __future__ import annotations

from django.db.models import Count, Prefetch, Q, QuerySet

from financing.alerts.models import (
    LIVE_STATUSES,
    Alert,
    AlertDelivery,
    AlertDeliveryAttempt,
    AlertEvent,
    AlertStatus,
    DeliveryStatus,
    Severity,
    WebhookEndpoint,
)


def alerts_list() -> QuerySet[Alert]:
    return Alert.objects.select_related("acknowledged_by", "resolved_by").order_by(
        "-raised_at", "-id"
    )


def _attempts() -> Prefetch:
    return Prefetch("attempt_log", queryset=AlertDeliveryAttempt.objects.order_by("number"))


def alert_detail() -> QuerySet[Alert]:
    """One alert with its events and its deliveries (each with its attempts)."""
    return alerts_list().prefetch_related(
        Prefetch(
            "events", queryset=AlertEvent.objects.select_related("actor").order_by("at", "id")
        ),
        Prefetch(
            "deliveries",
            queryset=AlertDelivery.objects.select_related("endpoint")
            .prefetch_related(_attempts())
            .order_by("channel", "target"),
        ),
    )


def deliveries_list() -> QuerySet[AlertDelivery]:
    return (
        AlertDelivery.objects.select_related("alert", "endpoint")
        .prefetch_related(_attempts())
        .order_by("-created_at", "-id")
    )


def webhook_endpoints_list() -> QuerySet[WebhookEndpoint]:
    return (
        WebhookEndpoint.objects.select_related("created_by")
        .annotate(
            failed_deliveries=Count(
                "deliveries", filter=Q(deliveries__status=DeliveryStatus.FAILED)
            )
        )
        .order_by("name")
    )


def alerts_summary() -> dict[str, int]:
    """Counts for the dashboard tile, in two queries whatever the number of alerts."""
    live = Q(status__in=LIVE_STATUSES)
    counts = Alert.objects.aggregate(
        live=Count("id", filter=live),
        unacknowledged=Count("id", filter=Q(status=AlertStatus.OPEN)),
        critical=Count("id", filter=live & Q(severity=Severity.CRITICAL)),
    )
    counts["failed_deliveries"] = AlertDelivery.objects.filter(
        status=DeliveryStatus.FAILED, alert__status__in=LIVE_STATUSES
    ).count()
    return counts
