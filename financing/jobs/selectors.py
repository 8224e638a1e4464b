from __future__ import annotations

from datetime import datetime, timedelta

from django.db.models import Count, Max, Q

from financing.jobs import registry
from financing.jobs.models import JobRun


def jobs_overview(*, now: datetime) -> list[dict]:
    """Per registered job: last run, last success, failures in the last 24 h, overdue flag.
    Two queries whatever the number of runs stored."""
    since = now - timedelta(hours=24)
    stats = {
        row["job"]: row
        for row in JobRun.objects.values("job").annotate(
            last_started=Max("started_at"),
            last_success=Max("finished_at", filter=Q(status=JobRun.Status.SUCCEEDED)),
            failures_24h=Count("id", filter=Q(status=JobRun.Status.FAILED, started_at__gte=since)),
            runs=Count("id"),
        )
    }
    last_runs = {
        run.job: run for run in JobRun.objects.order_by("job", "-started_at", "-id").distinct("job")
    }
    rows = []
    for job in registry.all_jobs():
        s = stats.get(job.name, {})
        last_success = s.get("last_success")
        overdue = bool(
            job.expected_every_hours
            and (
                last_success is None
                or now - last_success > timedelta(hours=job.expected_every_hours)
            )
        )
        rows.append(
            {
                "job": job,
                "last_run": last_runs.get(job.name),
                "last_success": last_success,
                "failures_24h": s.get("failures_24h", 0),
                "runs": s.get("runs", 0),
                "overdue": overdue,
            }
        )
    return rows
