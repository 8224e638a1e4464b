from __future__ import annotations

from celery import shared_task

from financing.jobs.services import job_run


@shared_task(name="jobs.run", acks_late=True, ignore_result=True)
def run_job_task(name: str, trigger: str = "beat", requested_by: str = "") -> int:
    """Every scheduled or queued job: one service call that records its own JobRun."""
    return job_run(name, trigger=trigger, requested_by=requested_by).pk
