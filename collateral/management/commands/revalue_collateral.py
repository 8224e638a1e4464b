"""manage.py revalue_collateral: value the whole book now and run the margin check (opens,
updates or closes margin calls). The same job beat runs hourly; it records a JobRun."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from financing.jobs.services import job_run


class Command(BaseCommand):
    help = "Revalue every loan's collateral now and open, update or close margin calls."

    def handle(self, *args, **options):
        run = job_run("revalue_collateral", trigger="manual", requested_by="command line")
        if run.status == "skipped":
            self.stdout.write("another revaluation is running; it does the work")
            return
        c = run.counts
        self.stdout.write(
            f"revalued {c['loans_valued']} loans in {c['seconds']} s ({c['loans_stale']} on "
            f"stale prices): {c['calls_opened']} calls opened, {c['calls_met']} met, "
            f"{c['calls_escalated']} escalated, {c['calls_liquidation']} to liquidation, "
            f"{c['warnings']} warnings"
        )
