"""Reads of the loan book shaped for pages and endpoints (bounded queries)."""

from __future__ import annotations

from django.db.models import Count, DecimalField, F, Q, QuerySet, Sum, Value
from django.db.models.functions import Coalesce

from loans.models import LIVE_STATUSES, Accrual, AccrualRun, Loan, LoanEvent


def loan_list() -> QuerySet[Loan]:
    return Loan.objects.select_related(
        "counterparty", "asset", "desk", "balance", "created_by"
    ).order_by("-id")


def loan_totals_by_asset(qs: QuerySet[Loan]) -> list[dict]:
    """Per asset and direction: loans, principal outstanding, accrued unsettled interest."""
    zero = Value(0, output_field=DecimalField(max_digits=38, decimal_places=18))
    rows = (
        qs.order_by()
        .values("asset__symbol", "asset__decimals", "direction")
        .annotate(
            loans=Count("id"),
            outstanding=Coalesce(Sum("outstanding_principal"), zero),
            accrued=Coalesce(
                Sum(
                    F("balance__accrued_total")
                    - F("balance__interest_settled")
                    - F("balance__interest_capitalised")
                ),
                zero,
            ),
        )
        .order_by("asset__symbol", "direction")
    )
    return list(rows)


def loan_book_counts() -> dict:
    return Loan.objects.aggregate(
        live=Count("id", filter=Q(status__in=LIVE_STATUSES)),
        pending=Count("id", filter=Q(status="pending_approval")),
        overdue=Count("id", filter=Q(status__in=LIVE_STATUSES, is_overdue=True)),
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
