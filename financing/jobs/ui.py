"""Jobs in the UI shell: the Jobs nav entry and the job-health tile."""

from __future__ import annotations

from django.urls import reverse

from financing.dashboard.registry import NavItem, Tile, register_nav, register_tile


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


register_tile(Tile("jobs.health", "Job health", "jobs.view", _job_health, 90))
register_nav(NavItem("Operations", "Jobs", "jobs:list", "jobs.view", 0))
