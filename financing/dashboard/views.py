from __future__ import annotations

from datetime import timedelta

from django.db.models import Count
from django.db.models.functions import TruncDate
from django.views.generic import TemplateView

from financing import clock
from financing.accounts.mixins import CapabilityRequiredMixin
from financing.accounts.roles import can
from financing.dashboard.registry import tiles

CHART_DAYS = 14


def approvals_per_day(*, now) -> dict:
    """Approval requests made and decided per UTC day over the last CHART_DAYS days."""
    from financing.approvals.models import ApprovalRequest

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


class HomeView(CapabilityRequiredMixin, TemplateView):
    """The home dashboard: the KPI tiles each app contributes that this user's role may see."""

    template_name = "dashboard/home.html"
    capability = "dashboard.view"

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        now = clock.now()
        user = self.request.user
        shown = []
        for tile in tiles():
            if can(user, tile.capability):
                shown.append({"tile": tile, **tile.compute(user, now)})
        ctx.update(tiles=shown, now=now)
        if can(user, "approvals.view"):
            ctx["approvals_chart"] = approvals_per_day(now=now)
        return ctx
