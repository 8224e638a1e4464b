"""Haircuts (by asset, venue and counterparty) and margin policies (LTV levels and cure
period by counterparty and asset): the terms the engine resolves field by field."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from simple_history.models import HistoricalRecords

from financing.fields import amount_field
from financing.refdata.models import Asset, Counterparty, Venue


class Haircut(models.Model):
    """Haircut of an asset as collateral, optionally for one venue and/or one counterparty.
    The most specific row wins: venue + counterparty, then counterparty, then venue, then the
    asset's default."""

    asset = models.ForeignKey(Asset, on_delete=models.PROTECT, related_name="haircuts")
    venue = models.ForeignKey(
        Venue, null=True, blank=True, on_delete=models.PROTECT, related_name="haircuts"
    )
    counterparty = models.ForeignKey(
        Counterparty, null=True, blank=True, on_delete=models.PROTECT, related_name="haircuts"
    )
    haircut = amount_field(help_text="A fraction: 0.10 = 10% of market value not counted")
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    updated_at = models.DateTimeField()
    history = HistoricalRecords()

    class Meta:
        ordering = ["asset__symbol", "counterparty__code", "venue__code"]
        constraints = [
            models.UniqueConstraint(
                fields=["asset", "venue", "counterparty"],
                nulls_distinct=False,
                name="haircut_one_per_scope",
            ),
            models.CheckConstraint(
                condition=models.Q(haircut__gte=0, haircut__lte=1), name="haircut_0_1"
            ),
        ]

    @property
    def scope(self) -> str:
        if self.venue_id and self.counterparty_id:
            return "venue + counterparty"
        if self.counterparty_id:
            return "counterparty"
        if self.venue_id:
            return "venue"
        return "asset default"


class MarginPolicy(models.Model):
    """Default margin terms for a counterparty, an asset (the loan's), both, or neither (the
    house default). A loan's own terms override; otherwise the most specific policy wins:
    counterparty + asset, then counterparty, then asset, then the house default."""

    counterparty = models.ForeignKey(
        Counterparty, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    asset = models.ForeignKey(
        Asset, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    initial_ltv = amount_field()
    warning_ltv = amount_field()
    call_ltv = amount_field()
    liquidation_ltv = amount_field()
    release_ltv = amount_field()
    cure_hours = models.PositiveSmallIntegerField()
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    updated_at = models.DateTimeField()
    history = HistoricalRecords()

    class Meta:
        ordering = ["counterparty__code", "asset__symbol"]
        constraints = [
            models.UniqueConstraint(
                fields=["counterparty", "asset"], nulls_distinct=False, name="policy_one_per_scope"
            ),
            models.CheckConstraint(
                condition=models.Q(release_ltv__gt=0)
                & models.Q(release_ltv__lt=models.F("initial_ltv"))
                & models.Q(initial_ltv__lt=models.F("warning_ltv"))
                & models.Q(warning_ltv__lt=models.F("call_ltv"))
                & models.Q(call_ltv__lt=models.F("liquidation_ltv"))
                & models.Q(liquidation_ltv__lte=5),
                name="policy_ltv_ladder",
            ),
            models.CheckConstraint(
                condition=models.Q(cure_hours__gte=1, cure_hours__lte=720),
                name="policy_cure_1_720",
            ),
        ]

    @property
    def scope(self) -> str:
        if self.counterparty_id and self.asset_id:
            return "counterparty + asset"
        if self.counterparty_id:
            return "counterparty"
        if self.asset_id:
            return "asset"
        return "house default"
