from __future__ import annotations

from datetime import timedelta

from django.db.models import Count, Prefetch, Q, QuerySet
from django.db.models.functions import TruncDate

from financing.approvals.models import (
    ApprovalDecision,
    ApprovalPolicy,
    ApprovalRequest,
    ApprovalTier,
)

#: How many UTC days the home dashboard's approvals chart covers.
CHART_DAYS = 14


def approvals_list(*, status: str | None = None) -> QuerySet[ApprovalRequest]:
    qs = (
        ApprovalRequest.objects.select_related("maker", "target_type")
        .prefetch_related(
            Prefetch("decisions", queryset=ApprovalDecision.objects.select_related("checker"))
        )
        .annotate(approvals_count=Count("decisions", filter=Q(decisions__decision="approve")))
        .order_by("-created_at", "-id")
    )
    if status:
        qs = qs.filter(status=status)
    return qs


def approvals_awaiting(user) -> QuerySet[ApprovalRequest]:
    """Pending requests this user may decide on: not their own, their role allowed, not yet
    approved by them."""
    return (
        approvals_list(status=ApprovalRequest.Status.PENDING)
        .filter(approver_roles__contains=[user.role])
        .exclude(maker=user)
        .exclude(decisions__checker=user)
    )


def policy_approvers_required(policy: ApprovalPolicy, amount_usd) -> int:
    """The highest tier whose threshold the amount reaches (amount unknown: first tier)."""
    required = 1
    for tier in ApprovalTier.objects.filter(policy=policy).order_by("min_amount_usd", "pk"):
        if amount_usd is None:
            return tier.approvers_required
        if amount_usd >= tier.min_amount_usd:
            required = tier.approvers_required
    return required


def approvals_per_day(*, now) -> dict:
    """Approval requests made and decided per UTC day over the last CHART_DAYS days."""
    start = (now - timedelta(days=CHART_DAYS - 1)).date()
    days = [start + timedelta(days=i) for i in range(CHART_DAYS)]
    made = dict(
        ApprovalRequest.objects.filter(created_at__date__gte=start)
        .annotate(day=TruncDate("created_at"))
        .values_list("day")
        .annotate(n=Count("id"))
    )
    decided = dict(
        ApprovalRequest.objects.filter(decided_at__date__gte=start)
        .annotate(day=TruncDate("decided_at"))
        .values_list("day")
        .annotate(n=Count("id"))
    )
    return {
        "labels": [d.isoformat() for d in days],
        "made": [made.get(d, 0) for d in days],
        "decided": [decided.get(d, 0) for d in days],
    }
