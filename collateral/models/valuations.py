"""Revaluation runs, the valuation of each loan in a run (append-only) and each loan's latest
margin state."""

from __future__ import annotations

from django.db import models

from financing.fields import amount_field
from loans.models import Loan


class RevaluationRun(models.Model):
    """One revaluation: the whole book (hourly, by hand) or the loans some new prices touched."""

    class Scope(models.TextChoices):
        BOOK = "book", "Whole book"
        TOUCHED = "touched", "Loans touched by new prices"
        LOANS = "loans", "Chosen loans"

    scope = models.CharField(max_length=8, choices=Scope.choices)
    trigger = models.CharField(max_length=16, default="manual")
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    #: The newest price per asset the run used: {symbol: {price, as_of, source, snapshot}}.
    prices = models.JSONField(default=dict, blank=True)
    assets = models.JSONField(default=list, blank=True, help_text="Scope touched: asset symbols")
    loans_valued = models.PositiveIntegerField(default=0)
    loans_stale = models.PositiveIntegerField(default=0)
    calls_opened = models.PositiveIntegerField(default=0)
    calls_met = models.PositiveIntegerField(default=0)
    calls_escalated = models.PositiveIntegerField(default=0)
    calls_liquidation = models.PositiveIntegerField(default=0)
    warnings = models.PositiveIntegerField(default=0)
    steps = models.JSONField(default=dict, blank=True)
    seconds = models.DecimalField(max_digits=12, decimal_places=3, default=0)

    class Meta:
        ordering = ["-started_at", "-id"]


class Band(models.TextChoices):
    """Where a loan's LTV sits against its margin terms."""

    OK = "ok", "Below warning"
    WARNING = "warning", "Warning"
    CALL = "call", "Margin call"
    LIQUIDATION = "liquidation", "Liquidation"
    UNKNOWN = "unknown", "No price"


class LoanValuation(models.Model):
    """A loan's valuation in one run, with everything that produced it. Append-only.

    exposure = (outstanding principal + accrued unsettled interest) x loan asset price;
    collateral value = sum of quantity x price x (1 - haircut) over the loan's positions and
    its share of pooled positions (pro rata to exposure); LTV = exposure / collateral value
    (null: no collateral, above every threshold)."""

    run = models.ForeignKey(
        RevaluationRun, on_delete=models.PROTECT, related_name="+", db_constraint=False
    )
    loan = models.ForeignKey(
        Loan,
        on_delete=models.PROTECT,
        related_name="valuations",
        db_constraint=False,
        db_index=False,
    )
    valued_at = models.DateTimeField()
    exposure_qty = amount_field(help_text="Outstanding principal + accrued unsettled interest")
    loan_price_usd = amount_field(null=True)
    exposure_usd = amount_field(null=True)
    collateral_value_usd = amount_field(null=True)
    pooled_value_usd = amount_field(default=0, help_text="Share of pooled collateral included")
    ltv = amount_field(null=True)
    stale = models.BooleanField(default=False)
    band = models.CharField(max_length=12, choices=Band.choices)
    initial_ltv = amount_field()
    warning_ltv = amount_field()
    call_ltv = amount_field()
    liquidation_ltv = amount_field()
    release_ltv = amount_field()
    #: Collateral value needed to bring LTV back to the initial LTV (haircut value, USD).
    top_up_usd = amount_field(default=0)
    #: Collateral value above what the initial LTV needs, returnable below the release LTV.
    excess_usd = amount_field(default=0)
    #: Per position: [{position, asset, venue, quantity, price, as_of, haircut, value, pooled}].
    lines = models.JSONField(default=list)

    class Meta:
        ordering = ["-valued_at", "-id"]
        indexes = [models.Index(fields=["loan", "-valued_at"], name="valuation_loan_latest")]


class LoanMarginState(models.Model):
    """The latest valuation of each loan, kept by every run, so dashboards and the margin check
    read one row per loan instead of searching the valuation history."""

    loan = models.OneToOneField(
        Loan, primary_key=True, on_delete=models.CASCADE, related_name="margin_state"
    )
    valuation = models.ForeignKey(
        LoanValuation, on_delete=models.PROTECT, related_name="+", db_constraint=False
    )
    valued_at = models.DateTimeField()
    exposure_usd = amount_field(null=True)
    collateral_value_usd = amount_field(null=True)
    ltv = amount_field(null=True)
    stale = models.BooleanField(default=False)
    band = models.CharField(max_length=12, choices=Band.choices)
    #: LTV points to the next threshold up (call for lend loans): smallest = nearest.
    headroom = amount_field(null=True)

    class Meta:
        indexes = [models.Index(fields=["headroom"], name="margin_state_headroom")]
