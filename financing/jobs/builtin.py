"""The platform's own jobs."""

from __future__ import annotations

from datetime import timedelta

from celery.schedules import crontab
from django.conf import settings

from financing.jobs.registry import Job, register


def _expire_kyc(*, now):
    from financing.refdata.services import kyc_expire_due

    return {"expired": kyc_expire_due(today=now.date())}


def _purge_idempotency_keys(*, now):
    from financing.api.services import idempotency_keys_purge

    cutoff = now - timedelta(hours=settings.IDEMPOTENCY_KEY_TTL_HOURS)
    return {"purged": idempotency_keys_purge(older_than=cutoff)}


register(
    Job(
        name="expire_kyc",
        description="Mark approved counterparty KYC past its expiry date as expired",
        run=_expire_kyc,
        schedule=crontab(minute=5, hour=0),
        schedule_label="daily 00:05 UTC",
        expected_every_hours=26,
    )
)
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
