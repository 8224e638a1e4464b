"""The platform's own navigation and KPI tiles. Domain apps register theirs the same way."""

from __future__ import annotations

from datetime import timedelta

from django.urls import reverse

from financing.dashboard.registry import NavItem, Tile, register_nav, register_tile


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


# The KYC tiles count active counterparties only, so their links filter on is_active too:
# the list a tile opens has exactly as many rows as the tile says.


def _kyc_expiring(user, now):
    from financing.refdata.models import Counterparty

    soon = now.date() + timedelta(days=30)
    count = Counterparty.objects.filter(
        kyc_status="approved", kyc_expires_on__lte=soon, is_active=True
    ).count()
    return {
        "value": count,
        "detail": "approved KYC expiring within 30 days",
        "tone": "warn" if count else "ok",
        "url": reverse("refdata:counterparty-list")
        + f"?kyc_status=approved&kyc_expires_before={soon}&is_active=true",
    }


def _kyc_blocked(user, now):
    from financing.refdata.models import Counterparty

    count = Counterparty.objects.filter(is_active=True).exclude(kyc_status="approved").count()
    return {
        "value": count,
        "detail": "active counterparties that cannot transact (KYC)",
        "tone": "bad" if count else "ok",
        "url": reverse("refdata:counterparty-list") + "?kyc_status=not_approved&is_active=true",
    }


def _job_health(user, now):
    from financing.jobs.selectors import jobs_overview

    rows = jobs_overview(now=now)
    failing = [r["job"].name for r in rows if r["failures_24h"] or r["overdue"]]
    return {
        "value": f"{len(rows) - len(failing)}/{len(rows)}",
        "detail": "jobs healthy"
        + (f"; failing or overdue: {', '.join(failing)}" if failing else ""),
        "tone": "bad" if failing else "ok",
        "url": reverse("jobs:list"),
    }


register_tile(
    Tile("approvals.pending", "Approvals waiting", "approvals.decide", _pending_approvals, 10)
)
register_tile(Tile("approvals.mine", "My pending changes", "approvals.view", _my_requests, 11))
register_tile(Tile("refdata.kyc_expiring", "KYC expiring", "refdata.view", _kyc_expiring, 50))
register_tile(Tile("refdata.kyc_blocked", "KYC blocked", "refdata.view", _kyc_blocked, 51))
register_tile(Tile("jobs.health", "Job health", "jobs.view", _job_health, 90))

for item in [
    NavItem("Overview", "Dashboard", "dashboard:home", "dashboard.view", 0),
    NavItem("Approvals", "Approvals inbox", "approvals:inbox", "approvals.view", 0),
    NavItem("Reference data", "Counterparties", "refdata:counterparty-list", "refdata.view", 0),
    NavItem("Reference data", "Assets", "refdata:asset-list", "refdata.view", 1),
    NavItem("Reference data", "Venues", "refdata:venue-list", "refdata.view", 2),
    NavItem("Reference data", "Desks", "refdata:desk-list", "refdata.view", 3),
    NavItem("Audit", "Activity", "audit:activity", "audit.view", 0),
    NavItem("Audit", "Logins & tokens", "audit:auth-events", "audit.auth_events", 1),
    NavItem("Operations", "Jobs", "jobs:list", "jobs.view", 0),
    NavItem("Operations", "API docs", "api:docs", "dashboard.view", 5),
]:
    register_nav(item)
