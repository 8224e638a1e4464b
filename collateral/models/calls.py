"""Margin calls, their statuses and allowed moves, their events and notices (append-only) and
the liquidations that sell collateral for them."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from collateral.models.positions import CollateralPosition
from collateral.models.valuations import LoanValuation
from financing.fields import amount_field
from loans.models import Loan


class MarginCallStatus(models.TextChoices):
    OPEN = "open", "Open"
    MET = "met", "Met"
    ESCALATED = "escalated", "Escalated"
    LIQUIDATION = "liquidation", "Liquidation"


class MarginCallSide(models.TextChoices):
    ON_COUNTERPARTY = "on_counterparty", "Firm calls the counterparty (lend)"
    ON_FIRM = "on_firm", "Counterparty calls the firm (borrow)"


#: Statuses and where they may go. The engine's statements and collateral/margin.py move calls
#: only along these (tests check every recorded move against this map); a call in liquidation
#: closes when the sale restores the initial LTV, or as met by a top-up or the loan leaving the
#: book.
CALL_TRANSITIONS: dict[str, frozenset[str]] = {
    MarginCallStatus.OPEN: frozenset(
        {MarginCallStatus.MET, MarginCallStatus.ESCALATED, MarginCallStatus.LIQUIDATION}
    ),
    MarginCallStatus.ESCALATED: frozenset({MarginCallStatus.MET, MarginCallStatus.LIQUIDATION}),
    MarginCallStatus.LIQUIDATION: frozenset({MarginCallStatus.MET}),
    MarginCallStatus.MET: frozenset(),
}


class MarginCall(models.Model):
    """A margin call on a loan. At most one unclosed call per loan (partial unique index), so
    concurrent revaluations cannot open two. A liquidation call closes when the sale is booked."""

    loan = models.ForeignKey(Loan, on_delete=models.PROTECT, related_name="margin_calls")
    side = models.CharField(max_length=16, choices=MarginCallSide.choices)
    status = models.CharField(max_length=12, choices=MarginCallStatus.choices)
    opened_at = models.DateTimeField()
    deadline = models.DateTimeField()
    closed_at = models.DateTimeField(null=True, blank=True)
    opening_valuation = models.ForeignKey(
        LoanValuation, on_delete=models.PROTECT, related_name="+", db_constraint=False
    )
    opening_ltv = amount_field(null=True)
    #: Haircut collateral value (USD) needed to reach the initial LTV when opened.
    required_top_up_usd = amount_field()
    #: The same figure at the latest revaluation.
    current_ltv = amount_field(null=True)
    current_top_up_usd = amount_field()
    last_valued_at = models.DateTimeField()
    escalated_at = models.DateTimeField(null=True, blank=True)
    liquidation_at = models.DateTimeField(null=True, blank=True)
    resolution = models.CharField(max_length=300, blank=True, default="")

    class Meta:
        ordering = ["-opened_at", "-id"]
        indexes = [models.Index(fields=["status", "deadline"])]
        constraints = [
            models.UniqueConstraint(
                fields=["loan"], condition=models.Q(closed_at__isnull=True), name="one_open_call"
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=MarginCallStatus.values), name="call_status_known"
            ),
            models.CheckConstraint(
                condition=models.Q(status="met", closed_at__isnull=False) | ~models.Q(status="met"),
                name="call_met_is_closed",
            ),
        ]

    @property
    def reference(self) -> str:
        return f"MC{self.pk}"

    @property
    def is_closed(self) -> bool:
        return self.closed_at is not None


class MarginCallEvent(models.Model):
    """The timeline of a call: opened, revalued across a threshold, top-up, escalated,
    liquidation, met. Append-only."""

    call = models.ForeignKey(MarginCall, on_delete=models.PROTECT, related_name="events")
    kind = models.CharField(max_length=24)
    from_status = models.CharField(max_length=12, blank=True, default="")
    to_status = models.CharField(max_length=12, blank=True, default="")
    at = models.DateTimeField()
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    ltv = amount_field(null=True)
    note = models.TextField(blank=True, default="")
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["at", "id"]
        indexes = [models.Index(fields=["call", "at"])]


class MarginCallNotice(models.Model):
    """A notice sent to the counterparty about a call (issued, escalated, liquidation, met),
    exactly as sent. Append-only."""

    class Kind(models.TextChoices):
        CALL = "call", "Margin call notice"
        ESCALATION = "escalation", "Deadline passed"
        LIQUIDATION = "liquidation", "Liquidation notice"
        LIQUIDATION_DONE = "liquidation_done", "Liquidation statement"
        MET = "met", "Call met"

    call = models.ForeignKey(MarginCall, on_delete=models.PROTECT, related_name="notices")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    #: The sale a liquidation statement reports (a call may need more than one sale).
    liquidation = models.ForeignKey(
        "Liquidation", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    sent_at = models.DateTimeField()
    recipient = models.CharField(max_length=200)
    subject = models.CharField(max_length=300)
    body = models.TextField()

    class Meta:
        ordering = ["sent_at", "id"]
        constraints = [
            # A notice of each kind is sent once per call (retries and races send nothing new);
            # a liquidation statement once per sale.
            models.UniqueConstraint(
                fields=["call", "kind"],
                condition=~models.Q(kind="liquidation_done"),
                name="one_notice_per_kind",
            ),
            models.UniqueConstraint(
                fields=["liquidation"],
                condition=models.Q(kind="liquidation_done"),
                name="one_statement_per_sale",
            ),
        ]


class Liquidation(models.Model):
    """A sell-down of collateral for a call in liquidation: what was sold, at what price, the
    proceeds applied to the loan and the surplus returned. Append-only."""

    call = models.ForeignKey(MarginCall, on_delete=models.PROTECT, related_name="liquidations")
    loan = models.ForeignKey(Loan, on_delete=models.PROTECT, related_name="+")
    position = models.ForeignKey(CollateralPosition, on_delete=models.PROTECT, related_name="+")
    quantity_sold = amount_field()
    sale_price_usd = amount_field()
    proceeds_usd = amount_field()
    loan_price_usd = amount_field()
    #: Proceeds in the loan's asset: applied to principal (then interest), the rest surplus.
    proceeds_loan_asset = amount_field()
    applied_principal = amount_field()
    applied_interest = amount_field()
    surplus_loan_asset = amount_field()
    surplus_usd = amount_field()
    ltv_before = amount_field(null=True)
    ltv_after = amount_field(null=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField()
