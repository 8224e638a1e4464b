from django.core.management.base import BaseCommand, CommandError

from financing.jobs import registry
from financing.jobs.models import JobRun
from financing.jobs.services import job_run


class Command(BaseCommand):
    help = "Run a registered job now in this process (the same service beat runs)."

    def add_arguments(self, parser):
        parser.add_argument("name", nargs="?")
        parser.add_argument("--list", action="store_true", help="list the jobs and schedules")

    def handle(self, *args, name=None, list=False, **options):
        if list or not name:
            for job in registry.all_jobs():
                self.stdout.write(f"{job.name:<28} {job.schedule_label:<20} {job.description}")
            return
        try:
            registry.get(name)
        except LookupError as exc:
            raise CommandError(str(exc)) from None
        run = job_run(name, trigger=JobRun.Trigger.MANUAL, requested_by="command line")
        self.stdout.write(f"{run.job}: {run.status} {run.counts}")
