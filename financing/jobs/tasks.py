"""The one Celery task every job runs through, and the way to queue it. Queuing lives here,
beside the task, so the services that run a job never import the task layer."""

from __future__ import annotations

from celery import shared_task
from django.db import transaction

from financing.jobs import registry
from financing.jobs.services import job_run


@shared_task(name="jobs.run", acks_late=True, ignore_result=True)
def run_job_task(name: str, trigger: str = "beat", requested_by: str = "") -> int:
    """Every scheduled or queued job: one service call that records its own JobRun."""
    return job_run(name, trigger=trigger, requested_by=requested_by).pk


def job_enqueue(name: str, *, trigger: str, requested_by: str = "") -> None:
    """Queue a job for the worker after the current transaction commits."""
    registry.get(name)
    transaction.on_commit(lambda: run_job_task.delay(name, trigger, requested_by))
