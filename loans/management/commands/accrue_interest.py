"""manage.py accrue_interest [--through YYYY-MM-DD]: the same job the daily beat task runs."""

from datetime import date

from django.core.management.base import BaseCommand, CommandError

from financing import clock
from financing.jobs.models import JobRun
from financing.jobs.services import job_run


class Command(BaseCommand):
    help = (
        "Accrue interest on every loan on the book for every day not yet accrued, up to and "
        "including --through (default: yesterday UTC), restating back-dated changes."
    )

    def add_arguments(self, parser):
        parser.add_argument("--through", help="last business date to accrue (YYYY-MM-DD)")

    def handle(self, *args, through=None, **options):
        day = None
        if through:
            try:
                day = date.fromisoformat(through)
            except ValueError:
                raise CommandError(f"--through {through!r} is not a date (YYYY-MM-DD).") from None
            if day >= clock.business_date():
                raise CommandError(
                    f"--through {day}: that business day is not over yet (today is "
                    f"{clock.business_date()} UTC)."
                )
        run = job_run(
            "accrue_interest",
            trigger=JobRun.Trigger.MANUAL,
            requested_by="command line",
            params={"through": day, "trigger": "command"},
        )
        if run.status != JobRun.Status.SUCCEEDED:
            raise CommandError(f"accrue_interest {run.status}: another run holds the lock")
        c = run.counts
        self.stdout.write(
            f"accrued through {c['through']}: {c['rows_booked']} rows for "
            f"{c['loans_accrued']} loans over {c['days_booked']} days; "
            f"{c['adjustments_booked']} adjustments for {c['loans_restated']} restated loans"
        )
