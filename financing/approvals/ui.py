"""Approvals in the UI shell: the inbox nav entry, the two approval tiles and the home chart."""

from __future__ import annotations

from django.urls import reverse

from financing.dashboard.registry import (
    HomeChart,
    NavItem,
    Tile,
    register_home_chart,
    register_nav,
    register_tile,
)


def _pending_approvals(user, now):
    from financing.approvals.selectors import approvals_awaiting

    count = approvals_awaiting(user).count()
    return {
        "value": count,
        "detail": "waiting for your decision",
        "tone": "warn" if count else "ok",
        "url": reverse("approvals:inbox"),
    }


def _my_requests(user, now):
    from financing.approvals.models import ApprovalRequest

    count = ApprovalRequest.objects.filter(maker=user, status="pending").count()
    return {
        "value": count,
        "detail": "of your changes await a checker",
        "tone": "neutral",
        "url": reverse("approvals:inbox") + "?tab=mine",
    }


def _approvals_chart(user, now):
    from financing.approvals.selectors import approvals_per_day

    return approvals_per_day(now=now)


register_tile(
    Tile("approvals.pending", "Approvals waiting", "approvals.decide", _pending_approvals, 10)
)
register_tile(Tile("approvals.mine", "My pending changes", "approvals.view", _my_requests, 11))
register_nav(NavItem("Approvals", "Approvals inbox", "approvals:inbox", "approvals.view", 0))
register_home_chart(HomeChart("approvals_chart", "approvals.view", _approvals_chart))
