"""The jobs' report in /healthz: the last run and last success of each job, and whether it is
overdue (financing.api.health)."""

from __future__ import annotations

from financing.api.health import HealthCheck, register


def _jobs_report(*, now) -> dict:
    from financing.jobs.selectors import jobs_overview

    return {
        row["job"].name: {
            "last_success": row["last_success"].isoformat() if row["last_success"] else None,
            "last_status": row["last_run"].status if row["last_run"] else None,
            "overdue": row["overdue"],
        }
        for row in jobs_overview(now=now)
    }


register(HealthCheck("jobs", _jobs_report))
