"""Demo collateral: prices, haircuts, margin policies and collateral on the demo loans, so the
risk dashboard opens on a book with a margin call, a warning, pooled collateral and a borrow
loan with excess the firm could recall (seed_demo, idempotent)."""

from __future__ import annotations

from decimal import Decimal

from devtools.demo.registry import Seeder, register_seeder
from financing import clock

PRICES = {"BTC": "97000", "ETH": "3500", "SOL": "240", "USDC": "1", "USDT": "1"}
HAIRCUTS = [
    # asset, haircut, venue, counterparty
    ("BTC", "0.10", None, None),
    ("ETH", "0.15", None, None),
    ("SOL", "0.25", None, None),
    ("USDC", "0.02", None, None),
    ("USDT", "0.03", None, None),
    ("BTC", "0.15", "BINANCE", None),  # exchange custody: a deeper haircut
    ("USDT", "0.05", None, "JUMP"),
]
POLICIES = [
    # counterparty, asset, initial, warning, call, liquidation, release, cure hours
    (None, None, "0.65", "0.70", "0.75", "0.85", "0.50", 24),
    ("JUMP", None, "0.60", "0.65", "0.70", "0.80", "0.45", 12),
]
# loan ref, asset, venue, quantity (per-loan collateral)
POSITIONS = [
    ("DEMO-001", "USDC", "ANCHORAGE", "13900000"),  # LTV about 71%: warning
    ("DEMO-002", "BTC", "COINBASE-PRIME", "260"),
    ("DEMO-003", "USDC", "ANCHORAGE", "20000000"),  # posted by the firm: excess to recall
    ("DEMO-004", "BTC", "ANCHORAGE", "300"),  # about 78% against JUMP's 70% call: a call
    ("DEMO-006", "BTC", "BINANCE", "90"),
]
SCENARIOS = [
    (
        "Crypto crash",
        "BTC -30%, ETH -40%, SOL -50%",
        {"BTC": "-0.30", "ETH": "-0.40", "SOL": "-0.50"},
    ),
    ("Crypto rally", "BTC +25%, ETH +30%, SOL +40%", {"BTC": "0.25", "ETH": "0.30", "SOL": "0.40"}),
    ("USDT depeg", "USDT -10%", {"USDT": "-0.10"}),
]
# kind, key, soft USD, hard USD
LIMITS = [
    ("counterparty", "WINTERMUTE", "25000000", "40000000"),
    ("counterparty", "JUMP", "15000000", "25000000"),
    ("asset", "BTC", "20000000", "30000000"),
    ("tenor", "open", "30000000", "50000000"),
]
# counterparty, direction, asset, venue, quantity (pooled collateral)
POOLED = [("WINTERMUTE", "received", "USDT", "OKX", "30000000")]


def prices_tick(*, moves: dict[str, Decimal], now, source: str = "demo") -> int:
    """Record a price for each asset with a price, moved by the given fraction (0 = same)."""
    from collateral.selectors import prices_latest
    from collateral.services import PriceInput, prices_record
    from financing.refdata.models import Asset

    rows = []
    assets = {a.symbol: a for a in Asset.objects.filter(is_active=True)}
    for p in prices_latest(now=now):
        if p["asset"] in assets and p["price_usd"] is not None:
            move = moves.get(p["asset"], Decimal(0))
            price = (Decimal(p["price_usd"]) * (1 + move)).quantize(Decimal("0.00000001"))
            rows.append(PriceInput(assets[p["asset"]], price, now, source))
    return prices_record(rows=rows, now=now)["stored"]


def seed_collateral(*, now=None) -> str:
    from collateral import services
    from collateral.engine import revalue
    from collateral.models import CollateralPosition, Haircut, MarginPolicy
    from financing.accounts.models import User
    from financing.refdata.models import Asset, Counterparty, Venue
    from loans.models import LIVE_STATUSES, Loan

    now = now or clock.now()
    risk = User.objects.get(username="risk")
    ops = User.objects.get(username="ops")
    assets = {a.symbol: a for a in Asset.objects.all()}
    venues = {v.code: v for v in Venue.objects.all()}
    # Fresh prices at a start whose prices went stale, so the demo opens on live prices
    # (a second seed_demo within the staleness limit writes nothing).
    from collateral.selectors import prices_latest

    latest = {p["asset"]: p for p in prices_latest(now=now)}
    wanted = [s for s in PRICES if s in assets and (s not in latest or latest[s]["stale"])]
    written = 0
    if wanted:
        written = services.prices_record(
            rows=[
                services.PriceInput(
                    assets[s],
                    Decimal(latest[s]["price_usd"] if s in latest else PRICES[s]),
                    now,
                    "demo",
                )
                for s in wanted
            ],
            now=now,
        )["stored"]
    if not Haircut.objects.exists():
        for symbol, hc, venue, cp in HAIRCUTS:
            services.haircut_set(
                actor=risk,
                asset=assets[symbol],
                haircut=Decimal(hc),
                now=now,
                venue=venues.get(venue) if venue else None,
                counterparty=Counterparty.objects.get(code=cp) if cp else None,
                reason="demo data",
            )
    if not MarginPolicy.objects.exists():
        for cp, asset, i, w, c, liq, rel, cure in POLICIES:
            services.margin_policy_set(
                actor=risk,
                now=now,
                counterparty=Counterparty.objects.get(code=cp) if cp else None,
                asset=assets[asset] if asset else None,
                terms={
                    "initial_ltv": Decimal(i),
                    "warning_ltv": Decimal(w),
                    "call_ltv": Decimal(c),
                    "liquidation_ltv": Decimal(liq),
                    "release_ltv": Decimal(rel),
                    "cure_hours": cure,
                },
                reason="demo data",
            )
    from collateral.limits import limit_set
    from collateral.models import ConcentrationLimit, StressScenario
    from collateral.stress import stress_scenario_save

    if not StressScenario.objects.exists():
        for name, description, shocks in SCENARIOS:
            stress_scenario_save(
                actor=risk,
                name=name,
                description=description,
                now=now,
                shocks={k: Decimal(v) for k, v in shocks.items()},
            )
    if not ConcentrationLimit.objects.exists():
        for kind, key, soft, hard in LIMITS:
            limit_set(
                actor=risk,
                kind=kind,
                key=key,
                soft_limit_usd=Decimal(soft),
                hard_limit_usd=Decimal(hard),
                now=now,
            )
    made = 0
    if not CollateralPosition.objects.exists():
        for ref, symbol, venue, qty in POSITIONS:
            loan = Loan.objects.filter(external_ref=ref, status__in=LIVE_STATUSES).first()
            if loan is None:
                continue
            services.collateral_top_up(
                actor=ops,
                loan=loan,
                asset=assets[symbol],
                venue=venues[venue],
                quantity=Decimal(qty),
                now=now,
                reason="collateral at inception (demo)",
            )
            made += 1
        for code, direction, symbol, venue, qty in POOLED:
            services.collateral_top_up(
                actor=ops,
                counterparty=Counterparty.objects.get(code=code),
                direction=direction,
                asset=assets[symbol],
                venue=venues[venue],
                quantity=Decimal(qty),
                now=now,
                reason="pooled collateral (demo)",
            )
            made += 1
    from collateral.models import MarginCall

    valued = ""
    if made or written:
        run = revalue(now=now, trigger="demo").run
        valued = f"; revalued {run.loans_valued} loans"
    open_calls = MarginCall.objects.filter(closed_at__isnull=True).count()
    return f"{made} collateral positions, {written} prices{valued}; {open_calls} open call(s)"


register_seeder(Seeder("collateral", 50, seed_collateral))
