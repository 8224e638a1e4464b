"""The jobs of the platform's lower apps, which cannot register with jobs themselves: the API's
idempotency-key purge. Apps above jobs register their own (refdata/jobs.py, alerts/jobs.py)."""

from __future__ import annotations

from datetime import timedelta

from celery.schedules import crontab
from django.conf import settings

from financing.jobs.registry import Job, register


def _purge_idempotency_keys(*, now):
    from financing.api.services import idempotency_keys_purge

    cutoff = now - timedelta(hours=settings.IDEMPOTENCY_KEY_TTL_HOURS)
    return {"purged": idempotency_keys_purge(older_than=cutoff)}


register(
    Job(
        name="purge_idempotency_keys",
        description="Delete stored API idempotency keys past their retention",
        run=_purge_idempotency_keys,
        schedule=crontab(minute=30, hour=1),
        schedule_label="daily 01:30 UTC",
        expected_every_hours=26,
    )
)
