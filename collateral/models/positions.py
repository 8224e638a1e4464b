"""Collateral positions (per loan, or pooled per counterparty and direction) and their
movements (append-only)."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from financing.fields import amount_field
from financing.refdata.models import Asset, Counterparty, Venue
from loans.models import Loan


class PositionDirection(models.TextChoices):
    RECEIVED = "received", "Received from the counterparty"
    POSTED = "posted", "Posted by the firm"


class CollateralPosition(models.Model):
    """Collateral held at a venue in one asset, securing one loan, or pooled across every loan
    of its counterparty in the same direction (loan null). Its quantity is the sum of its
    movements; services change both in one transaction."""

    counterparty = models.ForeignKey(
        Counterparty, on_delete=models.PROTECT, related_name="collateral_positions"
    )
    loan = models.ForeignKey(
        Loan, null=True, blank=True, on_delete=models.PROTECT, related_name="collateral_positions"
    )
    direction = models.CharField(max_length=8, choices=PositionDirection.choices)
    asset = models.ForeignKey(Asset, on_delete=models.PROTECT, related_name="+")
    venue = models.ForeignKey(Venue, on_delete=models.PROTECT, related_name="+")
    quantity = amount_field(default=0)
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(fields=["loan"], name="position_by_loan"),
            models.Index(
                fields=["counterparty", "direction"],
                name="position_pooled",
                condition=models.Q(loan__isnull=True),
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["counterparty", "loan", "direction", "asset", "venue"],
                nulls_distinct=False,
                name="position_one_per_scope",
            ),
            models.CheckConstraint(condition=models.Q(quantity__gte=0), name="position_non_neg"),
            models.CheckConstraint(
                condition=models.Q(direction__in=PositionDirection.values),
                name="position_direction_known",
            ),
        ]

    @property
    def pooled(self) -> bool:
        return self.loan_id is None


class CollateralMovement(models.Model):
    """A change of a position's quantity. Append-only.

    A substitution writes two rows (out and in) sharing a `group`; a release needing
    approval writes its row only once approved."""

    class Kind(models.TextChoices):
        TOP_UP = "top_up", "Top-up"
        RELEASE = "release", "Release"
        SUBSTITUTION_OUT = "substitution_out", "Substitution (out)"
        SUBSTITUTION_IN = "substitution_in", "Substitution (in)"
        LIQUIDATION = "liquidation", "Sold in liquidation"
        SURPLUS_RETURN = "surplus_return", "Surplus returned"

    position = models.ForeignKey(
        CollateralPosition, on_delete=models.PROTECT, related_name="movements"
    )
    kind = models.CharField(max_length=20, choices=Kind.choices)
    quantity = amount_field(help_text="Signed: top-ups and substitution-in add")
    group = models.UUIDField(null=True, blank=True)
    margin_call = models.ForeignKey(
        "MarginCall", null=True, blank=True, on_delete=models.PROTECT, related_name="movements"
    )
    approval = models.ForeignKey(
        "approvals.ApprovalRequest",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    at = models.DateTimeField()
    reason = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["position", "at"])]
        constraints = [
            models.CheckConstraint(condition=~models.Q(quantity=0), name="movement_non_zero"),
        ]
