"""The jobs the platform runs: name, what it does, its schedule and the service it calls.

Each domain app registers its jobs in AppConfig.ready(). The beat schedule, the Jobs page, the
`run_job` command and /healthz all read this one registry.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from celery.schedules import crontab, schedule


@dataclass(frozen=True)
class Job:
    name: str
    description: str
    #: Runs the job and returns its counts, e.g. {"expired": 3}. Receives now= (aware UTC).
    run: Callable[..., dict[str, Any]]
    schedule: crontab | schedule | None = None
    schedule_label: str = ""
    #: The advisory lock key; jobs with the same key never overlap.
    lock: str | None = None
    #: /healthz flags the job when its last success is older than this many hours.
    expected_every_hours: float | None = None


_JOBS: dict[str, Job] = {}


def register(job: Job) -> Job:
    _JOBS[job.name] = job
    return job


def unregister(name: str) -> None:
    _JOBS.pop(name, None)


def get(name: str) -> Job:
    try:
        return _JOBS[name]
    except KeyError:
        raise LookupError(f"no job named {name!r}") from None


def all_jobs() -> list[Job]:
    return sorted(_JOBS.values(), key=lambda j: j.name)


def beat_schedule() -> dict[str, dict[str, Any]]:
    """The Celery beat schedule: every scheduled job runs through the one jobs.run task."""
    return {
        job.name: {"task": "jobs.run", "schedule": job.schedule, "args": (job.name, "beat")}
        for job in all_jobs()
        if job.schedule is not None
    }
