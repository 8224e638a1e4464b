"""Reads of the loan book shaped for pages and endpoints (bounded queries)."""

from __future__ import annotations

from django.db.models import Count, DecimalField, F, OuterRef, Q, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce

from loans.models import LIVE_STATUSES, Accrual, AccrualRun, Loan, LoanBalance, LoanEvent

_ZERO = Value(0, output_field=DecimalField(max_digits=38, decimal_places=18))


def _recent_accruals():
    """The daily rows of the outer loan not yet rolled up into its balance (a week at most)."""
    return (
        Accrual.objects.filter(
            loan=OuterRef("pk"),
            kind=Accrual.Kind.ACCRUAL,
            date__gt=OuterRef("balance__rolled_up_through"),
        )
        .order_by()
        .values("loan")
        .annotate(s=Sum("amount"))
        .values("s")[:1]
    )


def _last_booked_day():
    return Accrual.objects.filter(loan=OuterRef("pk")).order_by("-date").values("date")[:1]


def loan_list() -> QuerySet[Loan]:
    """Loans with their running figures (Loan.accrued_total, accrued_through and
    accrued_unsettled read these, and only these)."""
    accrued_total = F("balance__rolled_up_total") + Coalesce(Subquery(_recent_accruals()), _ZERO)
    return (
        Loan.objects.select_related("counterparty", "asset", "desk", "balance", "created_by")
        .annotate(
            accrued_total_a=accrued_total,
            accrued_through_a=Subquery(_last_booked_day()),
            accrued_unsettled_a=accrued_total
            - F("balance__interest_settled")
            - F("balance__interest_capitalised"),
        )
        .order_by("-id")
    )


def loan_accrued_total(loan: Loan):
    """Every amount booked for one loan, from its balance and its not-yet-rolled-up rows."""
    balance = LoanBalance.objects.get(loan=loan)
    recent = Accrual.objects.filter(
        loan=loan, kind=Accrual.Kind.ACCRUAL, date__gt=balance.rolled_up_through
    ).aggregate(s=Sum("amount"))["s"]
    return balance.rolled_up_total + (recent or 0)


def loan_accrued_through(loan: Loan):
    return (
        Accrual.objects.filter(loan=loan).order_by("-date").values_list("date", flat=True).first()
    )


def loan_totals_by_asset(qs: QuerySet[Loan]) -> list[dict]:
    """Per asset and direction: loans, principal outstanding, accrued unsettled interest.
    Two grouped queries: the balances, and the rows not rolled up yet (a week at most)."""
    base = qs.order_by().values("asset__symbol", "asset__decimals", "direction")
    rows = list(
        base.annotate(
            loans=Count("id"),
            outstanding=Coalesce(Sum("outstanding_principal"), _ZERO),
            accrued=Coalesce(
                Sum(
                    F("balance__rolled_up_total")
                    - F("balance__interest_settled")
                    - F("balance__interest_capitalised")
                ),
                _ZERO,
            ),
        ).order_by("asset__symbol", "direction")
    )
    recent = (
        Accrual.objects.filter(
            loan__in=qs.order_by().values("pk"),
            kind=Accrual.Kind.ACCRUAL,
            date__gt=F("loan__balance__rolled_up_through"),
        )
        .values("loan__asset__symbol", "loan__direction")
        .annotate(s=Sum("amount"))
        .order_by()
    )
    extra = {(r["loan__asset__symbol"], r["loan__direction"]): r["s"] for r in recent}
    for row in rows:
        row["accrued"] += extra.get((row["asset__symbol"], row["direction"]), 0)
    return rows


def loan_book_counts() -> dict:
    return Loan.objects.aggregate(
        live=Count("id", filter=Q(status__in=LIVE_STATUSES)),
        pending=Count("id", filter=Q(status="pending_approval")),
    )


def loan_events(loan: Loan) -> QuerySet[LoanEvent]:
    return LoanEvent.objects.filter(loan=loan).select_related("actor").order_by("at", "id")


def loan_accrual_schedule(loan: Loan, limit: int = 400) -> list[dict]:
    """Per day, the booked total (accrual plus adjustments) and how many adjustments."""
    rows = (
        Accrual.objects.filter(loan=loan)
        .values("date")
        .annotate(amount=Sum("amount"), adjustments=Count("id", filter=Q(kind="adjustment")))
        .order_by("-date")[:limit]
    )
    return list(reversed(list(rows)))


def accrual_runs() -> QuerySet[AccrualRun]:
    return AccrualRun.objects.order_by("-started_at", "-id")
