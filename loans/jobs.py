"""The loan book's jobs: daily accrual and the overdue flag."""

from __future__ import annotations

from datetime import date

from celery.schedules import crontab

from financing import clock
from financing.jobs.registry import Job, register


def _accrue_interest(*, now, through: date | None = None, trigger: str = "beat"):
    from loans.accrual import accruals_book_through

    run = accruals_book_through(through=through or clock.yesterday(now), now=now, trigger=trigger)
    return {
        "accrual_run": run.pk,
        "through": run.through.isoformat(),
        "rows_booked": run.rows_booked,
        "loans_accrued": run.loans_accrued,
        "days_booked": run.days_booked,
        "adjustments_booked": run.adjustments_booked,
        "loans_restated": run.loans_restated,
    }


def _flag_overdue(*, now):
    from loans.services import loans_flag_overdue

    return {"flagged": loans_flag_overdue(now=now)}


register(
    Job(
        name="accrue_interest",
        description="Accrue interest on the whole book for every day not yet accrued, "
        "restating back-dated rate and principal changes",
        run=_accrue_interest,
        schedule=crontab(minute=2, hour=0),
        schedule_label="daily 00:02 UTC",
        lock="accrue_interest",
        expected_every_hours=26,
    )
)
register(
    Job(
        name="flag_overdue_loans",
        description="Flag loans not repaid by maturity or recall due date, the day after",
        run=_flag_overdue,
        schedule=crontab(minute=10, hour=0),
        schedule_label="daily 00:10 UTC",
        expected_every_hours=26,
    )
)
