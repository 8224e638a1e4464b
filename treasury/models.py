"""Treasury: accounts at venues per asset and purpose, their balance snapshots, and buffer
levels. The borrow desk reads lendable inventory from here (loans/desk)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from simple_history.models import HistoricalRecords

from financing.fields import amount_field
from financing.refdata.models import Asset, Venue


class AccountPurpose(models.TextChoices):
    LENDABLE = "lendable", "Lendable"
    BUFFER = "buffer", "Buffer"
    OPERATIONAL = "operational", "Operational"


class TreasuryAccount(models.Model):
    """Where the firm holds an asset at a venue, and what it is for. Only `lendable` accounts
    make up the borrow desk's inventory."""

    venue = models.ForeignKey(Venue, on_delete=models.PROTECT, related_name="treasury_accounts")
    asset = models.ForeignKey(Asset, on_delete=models.PROTECT, related_name="treasury_accounts")
    purpose = models.CharField(max_length=12, choices=AccountPurpose.choices)
    name = models.CharField(max_length=100, blank=True, default="")
    is_active = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField()
    history = HistoricalRecords()

    class Meta:
        ordering = ["asset__symbol", "venue__code", "purpose"]
        constraints = [
            models.UniqueConstraint(
                fields=["venue", "asset", "purpose"], name="treasury_account_one_per_purpose"
            ),
            models.CheckConstraint(
                condition=models.Q(purpose__in=AccountPurpose.values),
                name="treasury_account_purpose_known",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.venue_id and self.venue.code}/{self.asset_id and self.asset.symbol}/{self.purpose}"


class BalanceSnapshot(models.Model):
    """A balance of an account as of a time (from the API, a file import or a data pull).
    Append-only; the newest per account is the balance."""

    account = models.ForeignKey(TreasuryAccount, on_delete=models.PROTECT, related_name="balances")
    amount = amount_field()
    as_of = models.DateTimeField()
    source = models.CharField(max_length=64, default="api")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    received_at = models.DateTimeField()

    class Meta:
        ordering = ["-as_of", "-id"]
        indexes = [models.Index(fields=["account", "-as_of", "-id"], name="balance_latest")]
        constraints = [
            models.UniqueConstraint(fields=["account", "as_of"], name="balance_one_per_time"),
            models.CheckConstraint(condition=models.Q(amount__gte=0), name="balance_non_neg"),
        ]


class BufferLevel(models.Model):
    """The minimum of an asset treasury keeps unlent (per venue, or across venues when venue is
    null): subtracted from lendable inventory."""

    asset = models.ForeignKey(Asset, on_delete=models.PROTECT, related_name="buffer_levels")
    venue = models.ForeignKey(
        Venue, null=True, blank=True, on_delete=models.PROTECT, related_name="buffer_levels"
    )
    minimum = amount_field()
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    updated_at = models.DateTimeField()
    history = HistoricalRecords()

    class Meta:
        ordering = ["asset__symbol", "venue__code"]
        constraints = [
            models.UniqueConstraint(
                fields=["asset", "venue"], nulls_distinct=False, name="buffer_one_per_scope"
            ),
            models.CheckConstraint(condition=models.Q(minimum__gte=0), name="buffer_non_neg"),
        ]
