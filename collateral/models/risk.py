"""Stress scenarios and runs, and concentration limits by counterparty, asset or tenor bucket."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from simple_history.models import HistoricalRecords

from financing.fields import amount_field


class StressScenario(models.Model):
    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True, default="")
    #: {symbol: "-0.30"}: a fractional move of each asset's price (others unchanged).
    shocks = models.JSONField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField()
    history = HistoricalRecords()

    class Meta:
        ordering = ["name"]


class StressRun(models.Model):
    """One stress test over the whole book: its shocks, prices used and results summary."""

    scenario = models.ForeignKey(
        StressScenario, null=True, blank=True, on_delete=models.PROTECT, related_name="runs"
    )
    shocks = models.JSONField()
    prices = models.JSONField(default=dict)
    run_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    run_at = models.DateTimeField()
    loans_valued = models.PositiveIntegerField(default=0)
    loans_call = models.PositiveIntegerField(default=0)
    loans_liquidation = models.PositiveIntegerField(default=0)
    shortfall_usd = amount_field(default=0)
    top_up_usd = amount_field(default=0)
    #: The loans crossing call or liquidation, worst first (capped for storage; counts are full).
    results = models.JSONField(default=list)
    seconds = models.DecimalField(max_digits=12, decimal_places=3, default=0)

    class Meta:
        ordering = ["-run_at", "-id"]


class LimitKind(models.TextChoices):
    COUNTERPARTY = "counterparty", "Counterparty"
    ASSET = "asset", "Asset"
    TENOR = "tenor", "Tenor bucket"


#: Tenor buckets by remaining days (open-term loans count as "open").
TENOR_BUCKETS = (
    ("open", "Open term", None, None),
    ("0-30d", "Up to 30 days", 0, 30),
    ("31-90d", "31 to 90 days", 31, 90),
    ("91-180d", "91 to 180 days", 91, 180),
    ("181d+", "Over 180 days", 181, None),
)


class ConcentrationLimit(models.Model):
    """A cap on the USD exposure of the loan book by counterparty, asset or tenor bucket.
    Crossing the soft limit raises an alert; booking past the hard limit needs an extra
    approval."""

    kind = models.CharField(max_length=16, choices=LimitKind.choices)
    #: Counterparty code, asset symbol or tenor bucket key.
    key = models.CharField(max_length=32)
    soft_limit_usd = amount_field()
    hard_limit_usd = amount_field()
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    updated_at = models.DateTimeField()
    history = HistoricalRecords()

    class Meta:
        ordering = ["kind", "key"]
        constraints = [
            models.UniqueConstraint(fields=["kind", "key"], name="limit_one_per_key"),
            models.CheckConstraint(
                condition=models.Q(soft_limit_usd__gt=0)
                & models.Q(hard_limit_usd__gte=models.F("soft_limit_usd")),
                name="limit_soft_le_hard",
            ),
            models.CheckConstraint(
                condition=models.Q(kind__in=LimitKind.values), name="limit_kind_known"
            ),
        ]
