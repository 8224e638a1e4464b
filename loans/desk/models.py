"""The borrow desk's data: requests from trading desks, the allocations of inventory made to
them, and one row per asset that allocations lock. The tables keep the names they had when these
models lived in the loan book (`loans_*`): the move to this app changed no data.

Inventory per asset (domain.md) = lendable (treasury) - buffers - allocated - on loan;
utilization = on loan / lendable. `allocated` is the allocations not yet on the book as a live
loan (active, or booked as a loan still waiting for approval)."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from financing.fields import amount_field
from financing.refdata.models import Asset, Counterparty, Desk


class Urgency(models.TextChoices):
    LOW = "low", "Low"
    NORMAL = "normal", "Normal"
    HIGH = "high", "High"
    CRITICAL = "critical", "Critical"


class RequestStatus(models.TextChoices):
    SUBMITTED = "submitted", "Submitted"
    PARTIALLY_ALLOCATED = "partially_allocated", "Partially allocated"
    ALLOCATED = "allocated", "Allocated"
    BOOKED = "booked", "Booked"
    REJECTED = "rejected", "Rejected"
    CANCELLED = "cancelled", "Cancelled"
    EXPIRED = "expired", "Expired"


#: Where a request may go; borrow_request_transition() refuses the rest.
REQUEST_TRANSITIONS: dict[str, frozenset[str]] = {
    RequestStatus.SUBMITTED: frozenset(
        {
            RequestStatus.PARTIALLY_ALLOCATED,
            RequestStatus.ALLOCATED,
            RequestStatus.BOOKED,
            RequestStatus.REJECTED,
            RequestStatus.CANCELLED,
            RequestStatus.EXPIRED,
        }
    ),
    RequestStatus.PARTIALLY_ALLOCATED: frozenset(
        {
            RequestStatus.ALLOCATED,
            RequestStatus.BOOKED,
            RequestStatus.REJECTED,
            RequestStatus.CANCELLED,
            RequestStatus.EXPIRED,
        }
    ),
    RequestStatus.ALLOCATED: frozenset(
        {
            RequestStatus.BOOKED,
            RequestStatus.CANCELLED,
            RequestStatus.EXPIRED,
            RequestStatus.REJECTED,
        }
    ),
    # The loan it was booked as can still be refused by its checker.
    RequestStatus.BOOKED: frozenset({RequestStatus.REJECTED}),
    RequestStatus.REJECTED: frozenset(),
    RequestStatus.CANCELLED: frozenset(),
    RequestStatus.EXPIRED: frozenset(),
}
OPEN_STATUSES = (
    RequestStatus.SUBMITTED,
    RequestStatus.PARTIALLY_ALLOCATED,
    RequestStatus.ALLOCATED,
)


class BorrowRequest(models.Model):
    """A trading desk asks to borrow an asset from the firm's inventory."""

    desk = models.ForeignKey(Desk, on_delete=models.PROTECT, related_name="borrow_requests")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="borrow_requests"
    )
    asset = models.ForeignKey(Asset, on_delete=models.PROTECT, related_name="borrow_requests")
    quantity = amount_field()
    max_rate = amount_field(help_text="The highest annual rate the desk accepts (fraction)")
    tenor_days = models.PositiveSmallIntegerField(null=True, blank=True, help_text="null: open")
    needed_by = models.DateTimeField()
    urgency = models.CharField(max_length=8, choices=Urgency.choices)
    expected_revenue_usd = amount_field()
    purpose = models.CharField(max_length=500)
    counterparty = models.ForeignKey(
        Counterparty,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="borrow_requests",
        help_text="The desk's client the asset goes to (the loan's counterparty)",
    )
    status = models.CharField(
        max_length=20, choices=RequestStatus.choices, default=RequestStatus.SUBMITTED
    )
    #: 0-100, higher first: urgency, revenue impact, the desk's risk profile, time to needed-by.
    priority = models.DecimalField(max_digits=6, decimal_places=2)
    priority_detail = models.JSONField(default=dict)
    sla_due_at = models.DateTimeField(help_text="First response due")
    first_response_at = models.DateTimeField(null=True, blank=True)
    allocated_quantity = amount_field(default=0)
    sourced_quantity = amount_field(default=0, help_text="Borrowed from an external lender")
    loan = models.ForeignKey(
        "loans.Loan", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    external_loan = models.ForeignKey(
        "loans.Loan", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decision_reason = models.CharField(max_length=500, blank=True, default="")
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        db_table = "loans_borrowrequest"
        ordering = ["-priority", "needed_by", "id"]
        indexes = [
            models.Index(fields=["desk", "-created_at"], name="borrow_request_desk"),
            models.Index(
                fields=["-priority", "needed_by"],
                name="borrow_request_queue",
                condition=models.Q(status__in=["submitted", "partially_allocated", "allocated"]),
            ),
        ]
        constraints = [
            models.CheckConstraint(condition=models.Q(quantity__gt=0), name="borrow_qty_pos"),
            models.CheckConstraint(
                condition=models.Q(allocated_quantity__gte=0)
                & models.Q(allocated_quantity__lte=models.F("quantity")),
                name="borrow_allocated_within_quantity",
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=RequestStatus.values), name="borrow_status_known"
            ),
            models.CheckConstraint(
                condition=models.Q(urgency__in=Urgency.values), name="borrow_urgency_known"
            ),
        ]

    @property
    def reference(self) -> str:
        return f"BR{self.pk}"

    @property
    def remaining(self):
        return self.quantity - self.allocated_quantity - self.sourced_quantity


class Allocation(models.Model):
    """Inventory reserved for a request. Counts as allocated while active, or while the loan
    it was booked as waits for approval; released on cancel, reject, expiry or a refused loan."""

    class Status(models.TextChoices):
        ACTIVE = "active", "Reserved"
        BOOKED = "booked", "Booked as a loan"
        RELEASED = "released", "Released"

    request = models.ForeignKey(BorrowRequest, on_delete=models.PROTECT, related_name="allocations")
    asset = models.ForeignKey(Asset, on_delete=models.PROTECT, related_name="+")
    quantity = amount_field()
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.ACTIVE)
    loan = models.ForeignKey(
        "loans.Loan", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField()
    released_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "loans_allocation"
        ordering = ["created_at", "id"]
        indexes = [
            models.Index(
                fields=["asset"], name="allocation_counted", condition=~models.Q(status="released")
            )
        ]
        constraints = [
            models.CheckConstraint(condition=models.Q(quantity__gt=0), name="allocation_qty_pos"),
        ]


class AssetInventory(models.Model):
    """One row per asset: allocators lock it (SELECT ... FOR UPDATE) so two allocations of the
    same asset never read the same availability."""

    asset = models.OneToOneField(
        Asset, primary_key=True, on_delete=models.CASCADE, related_name="+"
    )
    locked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "loans_assetinventory"


class BorrowRequestEvent(models.Model):
    """Who did what to a request, when and why. Append-only."""

    request = models.ForeignKey(BorrowRequest, on_delete=models.PROTECT, related_name="events")
    kind = models.CharField(max_length=24)
    from_status = models.CharField(max_length=20, blank=True, default="")
    to_status = models.CharField(max_length=20, blank=True, default="")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    at = models.DateTimeField()
    note = models.TextField(blank=True, default="")
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        db_table = "loans_borrowrequestevent"
        ordering = ["at", "id"]
