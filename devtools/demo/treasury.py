"""Demo treasury: lendable accounts for the demo assets at three venues, a buffer and an
operational account, today's balances, two weeks of daily history and buffer levels.

Idempotent: accounts and buffers by natural key, daily snapshots by (account, as_of), and
today's balance only when the account has none since 00:00 UTC."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from devtools.demo.registry import Seeder, register_seeder
from financing import clock

D = Decimal
HISTORY_DAYS = 14

# venue, asset, purpose, balance now
ACCOUNTS = [
    ("COINBASE-PRIME", "BTC", "lendable", D("600")),
    ("ANCHORAGE", "BTC", "lendable", D("300")),
    ("COINBASE-PRIME", "BTC", "buffer", D("50")),
    ("BINANCE", "BTC", "operational", D("5.25")),
    ("COINBASE-PRIME", "ETH", "lendable", D("8000")),
    ("BINANCE", "ETH", "lendable", D("4000")),
    ("COINBASE-PRIME", "USDC", "lendable", D("40000000")),
    ("ANCHORAGE", "USDC", "lendable", D("20000000")),
    ("BINANCE", "USDC", "operational", D("1500000")),
    ("BINANCE", "USDT", "lendable", D("40000000")),
    ("COINBASE-PRIME", "SOL", "lendable", D("250000")),
    ("ANCHORAGE", "SOL", "lendable", D("150000")),
]
# asset, venue (None: across venues), minimum
BUFFERS = [
    ("BTC", None, D("50")),
    ("ETH", None, D("500")),
    ("USDC", None, D("2000000")),
    ("USDT", "BINANCE", D("1000000")),
    ("SOL", None, D("10000")),
]


def _past(amount: Decimal, days_ago: int, index: int, decimals: int) -> Decimal:
    """A deterministic wobble of a few percent, so the chart has a shape and reruns agree."""
    step = ((days_ago * 7 + index * 3) % 11) - 5  # -5 .. +5
    value = amount * (1 + D(step) / 100 - D(days_ago) / 200)
    return value.quantize(D(1).scaleb(-min(decimals, 2)))


def seed_treasury(*, now=None) -> str:
    from financing.accounts.models import User
    from financing.refdata.models import Asset, Venue
    from treasury import services
    from treasury.models import BalanceSnapshot, BufferLevel, TreasuryAccount

    now = now or clock.now()
    actor = User.objects.filter(username="treasury").first()
    if actor is None:
        return "skipped: no treasury user"
    assets = {a.symbol: a for a in Asset.objects.all()}
    venues = {v.code: v for v in Venue.objects.all()}
    midnight = datetime.combine(now.astimezone(UTC).date(), datetime.min.time(), tzinfo=UTC)
    opened = stored = buffers = 0
    rows = []
    for index, (venue_code, symbol, purpose, amount) in enumerate(ACCOUNTS):
        asset, venue = assets.get(symbol), venues.get(venue_code)
        if asset is None or venue is None:
            continue
        account = (
            TreasuryAccount.objects.select_related("asset", "venue")
            .filter(venue=venue, asset=asset, purpose=purpose)
            .first()
        )
        if account is None:
            account = services.treasury_account_create(
                actor=actor,
                venue=venue,
                asset=asset,
                purpose=purpose,
                name=f"{venue.name} {symbol} {purpose}",
                now=now - timedelta(days=HISTORY_DAYS + 1),
            )
            opened += 1
        if not account.is_active:
            continue
        stored_at = set(
            BalanceSnapshot.objects.filter(
                account=account, as_of__gte=midnight - timedelta(days=HISTORY_DAYS)
            ).values_list("as_of", flat=True)
        )
        for days_ago in range(HISTORY_DAYS, 0, -1):
            as_of = midnight - timedelta(days=days_ago)
            if as_of not in stored_at:
                value = _past(amount, days_ago, index, asset.decimals)
                rows.append(services.BalanceInput(account, value, as_of))
        if not any(t >= midnight for t in stored_at):
            as_of = max(midnight, now.replace(minute=0, second=0, microsecond=0))
            rows.append(services.BalanceInput(account, amount, as_of))
    if rows:
        stored = services.balances_record(actor=actor, rows=rows, now=now, source="demo")["stored"]
    for symbol, venue_code, minimum in BUFFERS:
        asset = assets.get(symbol)
        venue = venues.get(venue_code) if venue_code else None
        if asset is None or (venue_code and venue is None):
            continue
        if BufferLevel.objects.filter(asset=asset, venue=venue).exists():
            continue
        services.buffer_level_set(actor=actor, asset=asset, venue=venue, minimum=minimum, now=now)
        buffers += 1
    return f"{opened} accounts opened, {stored} balances stored, {buffers} buffers set"


register_seeder(Seeder("treasury", 45, seed_treasury))
