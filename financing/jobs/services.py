"""Running a job: a JobRun row per run, an advisory lock so two runs never overlap."""

from __future__ import annotations

import hashlib
import logging
import traceback
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection

from financing import clock
from financing.jobs import registry
from financing.jobs.models import JobRun

log = logging.getLogger(__name__)


def lock_key(name: str) -> int:
    """A stable signed 64-bit key for pg advisory locks."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


@contextmanager
def advisory_lock(name: str, *, wait: bool = True) -> Iterator[bool]:
    """Session-level PostgreSQL advisory lock. Yields whether it was acquired."""
    key = lock_key(name)
    with connection.cursor() as cur:
        if wait:
            cur.execute("SELECT pg_advisory_lock(%s)", [key])
            acquired = True
        else:
            cur.execute("SELECT pg_try_advisory_lock(%s)", [key])
            acquired = bool(cur.fetchone()[0])
    try:
        yield acquired
    finally:
        if acquired:
            with connection.cursor() as cur:
                cur.execute("SELECT pg_advisory_unlock(%s)", [key])


@contextmanager
def xact_advisory_lock(name: str) -> Iterator[None]:
    """Transaction-level advisory lock, released at commit or rollback."""
    if not connection.in_atomic_block:
        raise RuntimeError("xact_advisory_lock needs an open transaction")
    with connection.cursor() as cur:
        cur.execute("SELECT pg_advisory_xact_lock(%s)", [lock_key(name)])
    yield


def job_run(
    name: str,
    *,
    trigger: str = JobRun.Trigger.MANUAL,
    requested_by: str = "",
    params: dict | None = None,
) -> JobRun:
    """Run a registered job now, recording a JobRun. A run that finds another run of the same
    job holding its lock is recorded as skipped (the other run does the work). A failure is
    recorded with its error and re-raised. `params` go to the job as keyword arguments (e.g.
    the accrual's `through` date from the command line)."""
    job = registry.get(name)
    if connection.in_atomic_block:
        raise RuntimeError("jobs own their transactions; do not call job_run inside atomic()")
    started = clock.now()
    run = JobRun.objects.create(
        job=name, trigger=trigger, started_at=started, requested_by=requested_by[:150]
    )
    try:
        with advisory_lock(f"job:{job.lock or name}", wait=False) as acquired:
            if not acquired:
                run.status = JobRun.Status.SKIPPED
                run.counts = {}
            else:
                counts = job.run(now=started, **(params or {})) or {}
                run.status = JobRun.Status.SUCCEEDED
                run.counts = counts
    except Exception as exc:
        log.exception("job %s failed", name)
        run.status = JobRun.Status.FAILED
        run.error = "".join(traceback.format_exception_only(type(exc), exc)).strip()[:4000]
        run.finished_at = clock.now()
        run.save(update_fields=["status", "error", "finished_at"])
        raise
    run.finished_at = clock.now()
    run.save(update_fields=["status", "counts", "finished_at"])
    return run
