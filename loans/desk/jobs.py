"""The borrow desk's jobs and alert kinds: expiry past needed-by, and SLA breaches."""

from __future__ import annotations

from celery.schedules import crontab

from financing.accounts.roles import Role
from financing.alerts.registry import AlertKind, register_kind
from financing.jobs.registry import Job, register


def _expire(*, now):
    from loans.desk.services import borrow_requests_expire

    return {"expired": borrow_requests_expire(now=now)}


def _sla(*, now):
    from loans.desk.services import borrow_requests_sla_check

    return {"late": borrow_requests_sla_check(now=now)}


register(
    Job(
        name="expire_borrow_requests",
        description="Expire borrow requests past their needed-by time and release their "
        "allocations",
        run=_expire,
        schedule=crontab(),
        schedule_label="every minute",
        lock="expire_borrow_requests",
        expected_every_hours=1,
    )
)
register(
    Job(
        name="borrow_sla_check",
        description="Alert on borrow requests whose first response is past its SLA",
        run=_sla,
        schedule=crontab(),
        schedule_label="every minute",
        lock="borrow_sla_check",
        expected_every_hours=1,
    )
)
register_kind(
    AlertKind(
        "borrow_sla_breach",
        "Borrow request SLA",
        "warning",
        (Role.OPS, Role.ADMIN),
        "A borrow request had no first response within its SLA",
    )
)
