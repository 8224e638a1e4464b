"""The reference-data job: expire approved KYC past its date."""

from __future__ import annotations

from celery.schedules import crontab

from financing.jobs.registry import Job, register


def _expire_kyc(*, now):
    from financing.refdata.services import kyc_expire_due

    return {"expired": kyc_expire_due(today=now.date())}


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
