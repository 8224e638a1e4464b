"""manage.py price_tick [BTC=-0.05 ...]: record a fresh price for every priced asset, moved by
the given fractions (others unchanged), as the `demo` source; new prices revalue the loans they
touch. For demos and drills: a feed in production comes through pull_prices or POST /api/prices/.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from django.core.management.base import BaseCommand, CommandError

from devtools.demo.collateral import prices_tick
from financing import clock


class Command(BaseCommand):
    help = "Record a fresh price per asset, moved by SYMBOL=FRACTION (e.g. BTC=-0.05)."

    def add_arguments(self, parser):
        parser.add_argument("moves", nargs="*", help="SYMBOL=FRACTION, e.g. BTC=-0.05")
        parser.add_argument("--source", default="demo")

    def handle(self, *args, moves, source, **options):
        parsed: dict[str, Decimal] = {}
        for item in moves:
            symbol, _, value = item.partition("=")
            try:
                move = Decimal(value)
            except InvalidOperation:
                raise CommandError(f"{item!r}: write SYMBOL=FRACTION, e.g. BTC=-0.05") from None
            if not move.is_finite() or not Decimal("-0.99") <= move <= 10:
                raise CommandError(f"{item!r}: the move is a fraction from -0.99 to 10")
            parsed[symbol.strip().upper()] = move
        stored = prices_tick(moves=parsed, now=clock.now(), source=source)
        self.stdout.write(f"{stored} prices recorded")
