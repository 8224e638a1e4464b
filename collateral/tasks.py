"""Celery tasks of the collateral app: one job run each (the job records its JobRun)."""

from __future__ import annotations

from celery import shared_task

from financing.jobs.services import job_run


@shared_task(name="collateral.revalue_touched", acks_late=True, ignore_result=True)
def revalue_touched_task() -> int:
    """Queued (with a short countdown) after new prices commit: revalues the loans they touch."""
    return job_run("revalue_touched", trigger="event").pk
