"""Collateral and margin: prices, haircuts, margin policies, positions and their movements,
valuations, margin calls and their notices, stress scenarios and concentration limits.

Models hold data and invariants (constraints); every workflow lives in collateral/services.py
and the whole-book engine in collateral/engine.py. Ledger rows (price snapshots, movements,
valuations, margin-call events and notices) are append-only.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from simple_history.models import HistoricalRecords

from financing.db import amount_field
from financing.refdata.models import Asset, Counterparty, Venue
from loans.models import Loan

# ---------------------------------------------------------------- prices


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


# ---------------------------------------------------------------- haircuts and margin policy


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


# ---------------------------------------------------------------- positions and movements


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


# ---------------------------------------------------------------- revaluation


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


# ---------------------------------------------------------------- margin calls


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


# ---------------------------------------------------------------- stress tests and limits


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
