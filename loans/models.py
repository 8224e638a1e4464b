"""The loan book: loans, their events, rate and principal schedules, and the accrual ledger.

Models hold data and invariants (constraints); every workflow lives in loans/services/.
Ledger rows (events, rate changes, principal changes, accruals, settlements) are append-only.
"""

from __future__ import annotations

from datetime import date

from django.conf import settings
from django.db import models
from simple_history.models import HistoricalRecords

from financing.fields import amount_field
from financing.refdata.models import Asset, Counterparty, Desk
from loans.daycount import DayCount


class Direction(models.TextChoices):
    LEND = "lend", "Lend"
    BORROW = "borrow", "Borrow"


class Term(models.TextChoices):
    OPEN = "open", "Open"
    FIXED = "fixed", "Fixed"


class SettlementFrequency(models.TextChoices):
    MONTHLY = "monthly", "Monthly"
    AT_MATURITY = "at_maturity", "At maturity"
    ON_CLOSE = "on_close", "On close"


class LoanStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    PENDING_APPROVAL = "pending_approval", "Pending approval"
    ACTIVE = "active", "Active"
    RECALLED = "recalled", "Recalled"
    DEFAULTED = "defaulted", "Defaulted"
    LIQUIDATED = "liquidated", "Liquidated"
    WRITTEN_OFF = "written_off", "Written off"
    CLOSED = "closed", "Closed"
    REJECTED = "rejected", "Rejected"


#: The lifecycle (domain.md). loan_transition() refuses anything not listed here.
TRANSITIONS: dict[str, frozenset[str]] = {
    LoanStatus.DRAFT: frozenset({LoanStatus.PENDING_APPROVAL}),
    LoanStatus.PENDING_APPROVAL: frozenset({LoanStatus.ACTIVE, LoanStatus.REJECTED}),
    LoanStatus.ACTIVE: frozenset({LoanStatus.RECALLED, LoanStatus.DEFAULTED, LoanStatus.CLOSED}),
    LoanStatus.RECALLED: frozenset({LoanStatus.DEFAULTED, LoanStatus.CLOSED}),
    LoanStatus.DEFAULTED: frozenset({LoanStatus.LIQUIDATED, LoanStatus.WRITTEN_OFF}),
    LoanStatus.LIQUIDATED: frozenset({LoanStatus.WRITTEN_OFF, LoanStatus.CLOSED}),
    LoanStatus.WRITTEN_OFF: frozenset({LoanStatus.CLOSED}),
    LoanStatus.CLOSED: frozenset(),
    LoanStatus.REJECTED: frozenset(),
}

#: Loans on the book: they accrue (until their end date) and can be serviced.
LIVE_STATUSES = (
    LoanStatus.ACTIVE,
    LoanStatus.RECALLED,
    LoanStatus.DEFAULTED,
    LoanStatus.LIQUIDATED,
)
#: Live loans whose collateral is valued and whose exposure counts: not yet liquidated.
VALUED_STATUSES = (LoanStatus.ACTIVE, LoanStatus.RECALLED, LoanStatus.DEFAULTED)
#: Live loans a margin call can open on.
CALLABLE_STATUSES = (LoanStatus.ACTIVE, LoanStatus.RECALLED)

#: The longest fixed term a loan (or a borrow request's tenor) may run: ten years whatever
#: their leap days (3,653 days at most), with a week to spare.
MAX_TENOR_DAYS = 3660


class Loan(models.Model):
    direction = models.CharField(max_length=8, choices=Direction.choices)
    counterparty = models.ForeignKey(Counterparty, on_delete=models.PROTECT, related_name="loans")
    asset = models.ForeignKey(Asset, on_delete=models.PROTECT, related_name="loans")
    desk = models.ForeignKey(
        Desk, null=True, blank=True, on_delete=models.PROTECT, related_name="loans"
    )
    principal = amount_field(help_text="Original principal, in the loan's asset")
    outstanding_principal = amount_field(help_text="Principal not yet returned (end of today)")
    rate = amount_field(help_text="Annual rate in force today, a fraction (0.085 = 8.5%)")
    day_count = models.CharField(max_length=16, choices=DayCount.choices)
    term = models.CharField(max_length=8, choices=Term.choices)
    start_date = models.DateField()
    maturity_date = models.DateField(null=True, blank=True)
    recall_notice_days = models.PositiveSmallIntegerField(null=True, blank=True)
    recall_due_date = models.DateField(null=True, blank=True)
    settlement_frequency = models.CharField(
        max_length=16, choices=SettlementFrequency.choices, default=SettlementFrequency.MONTHLY
    )
    capitalise_interest = models.BooleanField(default=False)
    # Margin terms (collateral app reads them; null = the policy default applies).
    initial_ltv = amount_field(null=True, blank=True)
    warning_ltv = amount_field(null=True, blank=True)
    call_ltv = amount_field(null=True, blank=True)
    liquidation_ltv = amount_field(null=True, blank=True)
    release_ltv = amount_field(null=True, blank=True)
    cure_hours = models.PositiveSmallIntegerField(null=True, blank=True)
    external_ref = models.CharField(max_length=100, blank=True, default="")
    status = models.CharField(
        max_length=20, choices=LoanStatus.choices, default=LoanStatus.DRAFT, db_index=True
    )
    #: The first day that no longer accrues (repaid in full, closed or written off).
    end_date = models.DateField(null=True, blank=True)
    is_overdue = models.BooleanField(default=False)
    approval = models.ForeignKey(
        "approvals.ApprovalRequest",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="loans_booked"
    )
    created_at = models.DateTimeField()
    history = HistoricalRecords()

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["counterparty", "status"]),
            # The book is read by asset, status and direction, newest first: one index answers
            # the count and the page (index-only once vacuumed).
            models.Index(
                fields=["asset", "status", "direction", "-id"], name="loan_book_asset_status_dir"
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status__in=LoanStatus.values), name="loan_status_known"
            ),
            models.CheckConstraint(
                condition=models.Q(direction__in=Direction.values), name="loan_direction_known"
            ),
            models.CheckConstraint(
                condition=models.Q(day_count__in=DayCount.values), name="loan_day_count_known"
            ),
            models.CheckConstraint(condition=models.Q(principal__gt=0), name="loan_principal_pos"),
            models.CheckConstraint(
                condition=models.Q(outstanding_principal__gte=0), name="loan_outstanding_non_neg"
            ),
            models.CheckConstraint(
                condition=models.Q(rate__gte=0, rate__lte=10), name="loan_rate_0_10"
            ),
            models.CheckConstraint(
                condition=(
                    models.Q(term="fixed", maturity_date__isnull=False)
                    & models.Q(maturity_date__gt=models.F("start_date"))
                )
                | models.Q(term="open", maturity_date__isnull=True),
                name="loan_term_matches_maturity",
            ),
            models.CheckConstraint(
                condition=models.Q(end_date__isnull=True)
                | models.Q(end_date__gte=models.F("start_date")),
                name="loan_end_after_start",
            ),
        ]

    def __str__(self) -> str:
        return f"L{self.pk} {self.direction} {self.asset_id and self.asset.symbol} {self.counterparty_id and self.counterparty.code}"

    @property
    def reference(self) -> str:
        return f"L{self.pk}"

    # Running figures: annotations of loans.selectors.loan_list() (lists and details). A loan
    # read any other way has none, and reading them refuses rather than running a query per
    # loan: use loan_list(), or loans.selectors.loan_accrued_total() / loan_accrued_through().
    @property
    def accrued_total(self):
        return self._annotation("accrued_total_a")

    @property
    def accrued_through(self):
        return self._annotation("accrued_through_a")

    @property
    def accrued_unsettled(self):
        return self._annotation("accrued_unsettled_a")

    def _annotation(self, name: str):
        try:
            return self.__dict__[name]
        except KeyError:
            raise MissingAnnotation(
                f"Loan {self.reference} was not read through loans.selectors.loan_list(): "
                f"{name.removesuffix('_a')} is not loaded."
            ) from None


class MissingAnnotation(RuntimeError):
    """A running figure read from a loan that was not loaded with it (an N+1 refused)."""


#: "Nothing rolled up yet": the day before any loan can start.
ROLLED_UP_NEVER = date(1, 1, 1)


class LoanBalance(models.Model):
    """Running figures of a loan without summing its whole accrual ledger.

    The daily accrual run only inserts rows (loans/accrual.py); it does not touch this table
    for every loan every day. Accrued interest = rolled_up_total (every adjustment, and the
    daily accrual rows up to rolled_up_through) + the daily rows after rolled_up_through, which
    the run rolls up at least weekly, so a reader sums at most a week of rows per loan."""

    loan = models.OneToOneField(
        Loan, primary_key=True, on_delete=models.CASCADE, related_name="balance"
    )
    rolled_up_total = amount_field(default=0)
    rolled_up_through = models.DateField(default=ROLLED_UP_NEVER)
    interest_settled = amount_field(default=0, help_text="Interest paid out or received")
    interest_capitalised = amount_field(default=0, help_text="Interest turned into principal")
    #: The loan's terms changed since the last run: it may miss days before the book's
    #: watermark (a back-dated booking approved later), so the next run looks it up alone.
    catch_up = models.BooleanField(default=True)
    #: A back-dated change waits for restatement from this day, and why.
    restate_from = models.DateField(null=True, blank=True)
    restate_cause = models.CharField(max_length=300, blank=True, default="")

    class Meta:
        # The run looks for the few flagged balances; partial indexes find them without a scan.
        indexes = [
            models.Index(
                fields=["loan"], name="balance_catch_up", condition=models.Q(catch_up=True)
            ),
            models.Index(
                fields=["restate_from"],
                name="balance_restate_marked",
                condition=models.Q(restate_from__isnull=False),
            ),
        ]


class LoanEvent(models.Model):
    """One row per lifecycle transition or servicing action: who, when, why. Append-only."""

    class Kind(models.TextChoices):
        BOOKED = "booked", "Booked"
        SUBMITTED = "submitted", "Submitted for approval"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"
        RATE_CHANGE_REQUESTED = "rate_change_requested", "Rate change requested"
        RATE_CHANGED = "rate_changed", "Rate changed"
        REPAYMENT = "repayment", "Principal repaid"
        INTEREST_SETTLED = "interest_settled", "Interest settled"
        INTEREST_CAPITALISED = "interest_capitalised", "Interest capitalised"
        RECALLED = "recalled", "Recalled"
        OVERDUE = "overdue", "Overdue"
        DEFAULTED = "defaulted", "Defaulted"
        LIQUIDATED = "liquidated", "Liquidated"
        WRITE_OFF_REQUESTED = "write_off_requested", "Write-off requested"
        WRITTEN_OFF = "written_off", "Written off"
        CLOSED = "closed", "Closed"
        RESTATED = "restated", "Accruals restated"

    loan = models.ForeignKey(Loan, on_delete=models.PROTECT, related_name="events")
    kind = models.CharField(max_length=32, choices=Kind.choices)
    from_status = models.CharField(max_length=20, blank=True, default="")
    to_status = models.CharField(max_length=20, blank=True, default="")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    at = models.DateTimeField()
    reason = models.TextField(blank=True, default="")
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["at", "id"]
        indexes = [models.Index(fields=["loan", "at"])]


class RateChange(models.Model):
    """The rate schedule of a loan: the rate in force on day D is the row with the latest
    effective_date <= D (the latest booked wins on a tie). Append-only."""

    loan = models.ForeignKey(Loan, on_delete=models.PROTECT, related_name="rate_changes")
    effective_date = models.DateField()
    rate = amount_field()
    approval = models.ForeignKey(
        "approvals.ApprovalRequest",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField()
    reason = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["effective_date", "id"]
        indexes = [models.Index(fields=["loan", "effective_date"])]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(rate__gte=0, rate__lte=10), name="rate_change_rate_0_10"
            )
        ]


class PrincipalChange(models.Model):
    """The principal ledger: principal at the end of day D is the sum of amounts dated <= D.
    Append-only."""

    class Kind(models.TextChoices):
        DRAWDOWN = "drawdown", "Drawdown"
        REPAYMENT = "repayment", "Repayment"
        CAPITALISATION = "capitalisation", "Capitalised interest"
        LIQUIDATION = "liquidation", "Liquidation proceeds"
        WRITE_OFF = "write_off", "Write-off"

    loan = models.ForeignKey(Loan, on_delete=models.PROTECT, related_name="principal_changes")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    effective_date = models.DateField()
    amount = amount_field(help_text="Signed: drawdowns and capitalisation add, repayments reduce")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField()
    reason = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["effective_date", "id"]
        indexes = [models.Index(fields=["loan", "effective_date"])]
        constraints = [
            models.CheckConstraint(condition=~models.Q(amount=0), name="principal_change_non_zero")
        ]


class LoanTerms(models.Model):
    """Derived: the loan's (principal, rate) by date range while it is on the book, rebuilt from
    the two schedules whenever one changes, so the whole-book accrual reads one small table.
    valid_to is exclusive (null = open-ended) and never past the loan's end date.

    Each row carries its day's accrual already rounded for the few fractions its convention can
    produce (1/365, 1/360, 1/366, 2/360, 3/360), computed once per segment, so the daily run
    only picks the right one per day (loans/accrual.py)."""

    loan = models.ForeignKey(Loan, on_delete=models.CASCADE, related_name="terms", db_index=False)
    day_count = models.CharField(max_length=16, choices=DayCount.choices)
    valid_from = models.DateField()
    valid_to = models.DateField(null=True, blank=True)
    principal = amount_field()
    rate = amount_field()
    #: One day at 1/365 (ACT/365F, ACT/ACT-ISDA in a common year) or 1/360 (ACT/360, 30E/360).
    daily_amount = amount_field()
    #: ACT/ACT-ISDA in a leap year: 1/366. Others: as daily_amount.
    daily_amount_leap = amount_field()
    #: 30E/360 on the last day of February: 2/360 (leap year) and 3/360 (common year).
    daily_amount_2 = amount_field()
    daily_amount_3 = amount_field()

    class Meta:
        ordering = ["loan", "valid_from"]
        constraints = [
            models.UniqueConstraint(fields=["loan", "valid_from"], name="loan_terms_unique"),
        ]


class AccrualRun(models.Model):
    """One run of the accrual engine: what it booked and what it restated."""

    through = models.DateField()
    trigger = models.CharField(max_length=16, default="manual")
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    loans_accrued = models.PositiveIntegerField(default=0)
    rows_booked = models.PositiveIntegerField(default=0)
    days_booked = models.PositiveIntegerField(default=0)
    first_day = models.DateField(null=True, blank=True)
    last_day = models.DateField(null=True, blank=True)
    loans_restated = models.PositiveIntegerField(default=0)
    adjustments_booked = models.PositiveIntegerField(default=0)
    loans_rolled_up = models.PositiveIntegerField(default=0)
    loans_caught_up = models.PositiveIntegerField(default=0)
    #: Seconds per statement of the run (restate, catch_up, book, roll_up, ...).
    steps = models.JSONField(default=dict, blank=True)
    seconds = models.DecimalField(max_digits=12, decimal_places=3, default=0)

    class Meta:
        ordering = ["-started_at", "-id"]


class Accrual(models.Model):
    """The accrual ledger: one `accrual` row per loan per day (seq 0) and any `adjustment` rows
    restating that day (seq 1, 2, ...), each naming its cause. Append-only: never edited."""

    class Kind(models.TextChoices):
        ACCRUAL = "accrual", "Accrual"
        ADJUSTMENT = "adjustment", "Adjustment"

    # The busiest table of the product: 100k+ rows a day. The unique constraint's index leads
    # with loan, so no separate index; and no database-level foreign key, whose per-row
    # check (a FOR KEY SHARE lock on every loan) more than doubles the cost of the daily
    # insert. Rows are only written by the engine from the terms of existing loans, and loans
    # and runs are never deleted (PROTECT, no delete path).
    loan = models.ForeignKey(
        Loan,
        on_delete=models.PROTECT,
        related_name="accruals",
        db_index=False,
        db_constraint=False,
    )
    date = models.DateField()
    kind = models.CharField(max_length=12, choices=Kind.choices)
    seq = models.PositiveSmallIntegerField(default=0)
    principal = amount_field()
    rate = amount_field()
    day_count_fraction = amount_field()
    amount = amount_field()
    cause = models.CharField(max_length=300, blank=True, default="")
    run = models.ForeignKey(
        AccrualRun, on_delete=models.PROTECT, related_name="+", db_index=False, db_constraint=False
    )
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["date", "kind", "seq"]
        constraints = [
            models.UniqueConstraint(
                fields=["loan", "date", "kind", "seq"], name="accrual_one_per_loan_day_kind_seq"
            ),
            models.CheckConstraint(
                condition=models.Q(kind="accrual", seq=0) | models.Q(kind="adjustment", seq__gte=1),
                name="accrual_seq_matches_kind",
            ),
        ]


class InterestSettlement(models.Model):
    """Interest paid (lend: received by the firm; borrow: paid by it) or capitalised, rounded
    to the asset's decimals; what rounding leaves over stays accrued (carried). Append-only."""

    loan = models.ForeignKey(Loan, on_delete=models.PROTECT, related_name="settlements")
    date = models.DateField(help_text="Settles interest accrued for days before this date")
    amount = amount_field(help_text="Rounded to the asset's decimals")
    accrued_before = amount_field(help_text="Unsettled interest for the days settled, unrounded")
    carried = amount_field(help_text="Left accrued by the rounding, settled next time")
    capitalised = models.BooleanField(default=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["date", "id"]
