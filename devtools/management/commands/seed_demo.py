from django.core.management.base import BaseCommand
from django.db import transaction

from devtools.demo import seeders


class Command(BaseCommand):
    help = "Load the demo book (idempotent: safe to run on every start)."

    def handle(self, *args, **options):
        for seeder in seeders():
            with transaction.atomic():
                summary = seeder.run()
            self.stdout.write(f"seed_demo {seeder.name}: {summary}")
