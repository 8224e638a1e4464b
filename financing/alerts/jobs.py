"""The alerts job: fan new alerts out to their deliveries and send what is due."""

from __future__ import annotations

from celery.schedules import crontab

from financing.alerts.services import DELIVERY_JOB
from financing.jobs.registry import Job, register


def _deliver_alerts(*, now):
    from financing.alerts.delivery import alerts_deliver

    return alerts_deliver(now=now)


register(
    Job(
        name=DELIVERY_JOB,
        description="Fan new alerts out to email and webhook deliveries and send every due "
        "delivery, retrying failures with backoff",
        run=_deliver_alerts,
        schedule=crontab(),
        schedule_label="every minute",
        lock=DELIVERY_JOB,
        expected_every_hours=0.25,
    )
)
