"""manage.py seed_synthetic --loans N [--start DATE] [--spread-days N]"""

from datetime import date, timedelta

from django.core.management.base import BaseCommand, CommandError

from devtools.synthetic import seed_synthetic
from financing import clock


class Command(BaseCommand):
    help = "Insert N synthetic active loans (a realistic mix) for benchmarks and load tests."

    def add_arguments(self, parser):
        parser.add_argument("--loans", type=int, required=True)
        parser.add_argument("--start", help="latest start date (YYYY-MM-DD); default 30 days ago")
        parser.add_argument(
            "--spread-days", type=int, default=180, help="start dates spread over this many days"
        )
        parser.add_argument("--counterparties", type=int, default=300)

    def handle(self, *args, loans, start=None, spread_days=180, counterparties=300, **options):
        if not 1 <= loans <= 5_000_000:
            raise CommandError("--loans must be between 1 and 5,000,000.")
        if spread_days < 0 or not 1 <= counterparties <= 9999:
            raise CommandError("--spread-days must be >= 0 and --counterparties 1 to 9999.")
        try:
            first = (
                date.fromisoformat(start) if start else clock.business_date() - timedelta(days=30)
            )
        except ValueError:
            raise CommandError(f"--start {start!r} is not a date (YYYY-MM-DD).") from None
        lo, hi = seed_synthetic(
            loans=loans, start=first, spread_days=spread_days, counterparties=counterparties
        )
        self.stdout.write(
            f"seeded {hi - lo + 1} synthetic loans (ids {lo}..{hi}), latest start {first}"
        )
