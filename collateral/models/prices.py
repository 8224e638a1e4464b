"""Prices: one snapshot per asset, source and time (append-only), and the assets whose new
prices have not yet revalued the loans they touch."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from financing.fields import amount_field
from financing.refdata.models import Asset


class PriceSnapshot(models.Model):
    """One price of an asset in USD, as a source saw it at `as_of`. Append-only.

    A feed delivering the same (asset, source, as_of) twice stores it once."""

    asset = models.ForeignKey(Asset, on_delete=models.PROTECT, related_name="prices")
    price_usd = amount_field()
    as_of = models.DateTimeField()
    source = models.CharField(max_length=64)
    received_at = models.DateTimeField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    approval = models.ForeignKey(
        "approvals.ApprovalRequest",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )

    class Meta:
        ordering = ["-as_of", "-id"]
        indexes = [models.Index(fields=["asset", "-as_of", "-id"], name="price_latest")]
        constraints = [
            models.UniqueConstraint(
                fields=["asset", "source", "as_of"], name="price_one_per_source_time"
            ),
            models.CheckConstraint(condition=models.Q(price_usd__gt=0), name="price_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.asset_id and self.asset.symbol} {self.price_usd} @ {self.as_of:%Y-%m-%d %H:%M:%S}Z ({self.source})"


class PriceTouch(models.Model):
    """Assets with prices that arrived since the touched loans were last revalued.
    The debounced revaluation drains this table (state, not messages)."""

    asset = models.OneToOneField(
        Asset, primary_key=True, on_delete=models.CASCADE, related_name="+"
    )
    touched_at = models.DateTimeField()
