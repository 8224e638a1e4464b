"""A synthetic loan book at scale, for benchmarks and load tests (`seed_synthetic`).

Set-based: a handful of INSERT ... SELECT statements over generate_series, so 100k loans take
seconds. The mix is realistic: BTC/ETH/stablecoin/SOL loans, lend and borrow, open and fixed
term, all four day counts, rates by asset, a few hundred counterparties with approved KYC.
The loans are active and marked as synthetic (external_ref SYN-...), with their rate and
principal schedules, terms and a balance row, exactly as the services would leave them.
"""

from __future__ import annotations

from datetime import date, timedelta

from django.db import connection, transaction

from financing import clock
from financing.accounts.models import User
from financing.refdata.models import Asset, Counterparty, Desk
from loans.accrual import segment_amounts_sql
from loans.daycount import DayCount

ASSETS = [
    # symbol, name, decimals, stablecoin, share of loans, principal low, high, rate low, high
    ("BTC", "Bitcoin", 8, False, 30, "0.5", "250", "0.02", "0.08"),
    ("ETH", "Ether", 18, False, 25, "5", "4000", "0.02", "0.09"),
    ("USDC", "USD Coin", 6, True, 20, "50000", "25000000", "0.05", "0.14"),
    ("USDT", "Tether USD", 6, True, 15, "50000", "25000000", "0.05", "0.15"),
    ("SOL", "Solana", 9, False, 10, "100", "200000", "0.04", "0.12"),
]
DAY_COUNTS = list(DayCount.values)
DESKS = ("SYN-DESK-A", "SYN-DESK-B", "SYN-DESK-C")


def refdata_ensure(
    counterparties: int, desks: tuple[str, ...] = DESKS
) -> tuple[int, list[int], list[int]]:
    """The synthetic user, assets, desks and approved counterparties (get or create);
    returns the user id, the counterparty ids and the desk ids."""
    user, _ = User.objects.get_or_create(
        username="synthetic", defaults={"role": "ops", "is_active": False}
    )
    for symbol, name, decimals, stable, *_ in ASSETS:
        Asset.objects.get_or_create(
            symbol=symbol, defaults={"name": name, "decimals": decimals, "is_stablecoin": stable}
        )
    desk_ids = []
    for code in desks:
        desk, _ = Desk.objects.get_or_create(code=code, defaults={"name": f"{code} (synthetic)"})
        desk_ids.append(desk.pk)
    existing = set(
        Counterparty.objects.filter(code__startswith="SYN-CP-").values_list("code", flat=True)
    )
    expires = clock.business_date() + timedelta(days=3650)
    Counterparty.objects.bulk_create(
        Counterparty(
            code=f"SYN-CP-{i:04d}",
            name=f"Synthetic Counterparty {i:04d} Ltd",
            kind=["fund", "market_maker", "exchange", "institution"][i % 4],
            jurisdiction=["GB", "US", "SG", "CH", "KY"][i % 5],
            risk_rating=["low", "medium", "high"][i % 3],
            kyc_status="approved",
            kyc_expires_on=expires,
        )
        for i in range(counterparties)
        if f"SYN-CP-{i:04d}" not in existing
    )
    cps = list(
        Counterparty.objects.filter(code__startswith="SYN-CP-")
        .order_by("code")
        .values_list("pk", flat=True)[:counterparties]
    )
    return user.pk, cps, desk_ids


def seed_synthetic(
    *,
    loans: int,
    start: date,
    spread_days: int = 0,
    seed: float = 0.42,
    counterparties: int = 300,
    desks: tuple[str, ...] = DESKS,
) -> list[int]:
    """Insert `loans` active loans starting between start - spread_days and start, spread
    evenly over `desks` (a second, smaller book in desks of its own is the bench's 1k book).
    Returns the new loan ids' range [first, last]."""
    user_id, cps, desks = refdata_ensure(counterparties, desks)
    assets = {a.symbol: a.pk for a in Asset.objects.filter(symbol__in=[a[0] for a in ASSETS])}
    # A table of asset shares -> cumulative bounds for a uniform draw.
    mix_rows = []
    acc = 0
    for symbol, _n, decimals, _s, share, plo, phi, rlo, rhi in ASSETS:
        mix_rows.append(
            f"({assets[symbol]}, {decimals}, {acc}, {acc + share}, {plo}::numeric, "
            f"{phi}::numeric, {rlo}::numeric, {rhi}::numeric)"
        )
        acc += share
    now = clock.now()
    with transaction.atomic(), connection.cursor() as cur:
        cur.execute("SELECT setseed(%s)", [seed])
        cur.execute(
            f"""
            CREATE TEMP TABLE syn ON COMMIT DROP AS
            WITH mix(asset_id, decimals, lo, hi, plo, phi, rlo, rhi) AS (VALUES {", ".join(mix_rows)}),
            draws AS (
                SELECT g, random() * {acc} AS a, random() AS p, random() AS r, random() AS t,
                       random() AS d, random() AS s, random() AS c, random() AS m, random() AS k
                FROM generate_series(1, %(n)s) g
            )
            SELECT g,
                   mix.asset_id,
                   CASE WHEN k < 0.7 THEN 'lend' ELSE 'borrow' END AS direction,
                   (%(cps)s::bigint[])[1 + floor(c * %(ncp)s)::int] AS counterparty_id,
                   (%(desks)s::bigint[])[1 + floor(k * %(ndesks)s)::int] AS desk_id,
                   round(mix.plo + (mix.phi - mix.plo) * p::numeric, LEAST(mix.decimals, 4)) AS principal,
                   round(mix.rlo + (mix.rhi - mix.rlo) * r::numeric, 4) AS rate,
                   (%(dcs)s::text[])[1 + floor(d * 4)::int] AS day_count,
                   CASE WHEN t < 0.6 THEN 'open' ELSE 'fixed' END AS term,
                   (%(start)s::date - floor(s * (%(spread)s + 1))::int) AS start_date,
                   (30 + floor(m * 335))::int AS tenor
            FROM draws JOIN mix ON draws.a >= mix.lo AND draws.a < mix.hi
            """,
            {
                "n": loans,
                "cps": cps,
                "ncp": len(cps),
                "desks": desks,
                "ndesks": len(desks),
                "dcs": DAY_COUNTS,
                "start": start,
                "spread": spread_days,
            },
        )
        cur.execute(
            """
            INSERT INTO loans_loan (direction, counterparty_id, asset_id, desk_id, principal,
                outstanding_principal, rate, day_count, term, start_date, maturity_date,
                recall_notice_days, settlement_frequency, capitalise_interest, external_ref,
                status, is_overdue, created_by_id, created_at)
            SELECT direction, counterparty_id, asset_id, desk_id, principal, principal, rate,
                   day_count, term, start_date,
                   CASE WHEN term = 'fixed' THEN start_date + tenor END,
                   CASE WHEN term = 'open' THEN (ARRAY[0, 1, 2, 7])[1 + g %% 4] END,
                   'monthly', false, 'SYN-' || g, 'active', false, %(user)s, %(now)s
            FROM syn ORDER BY g
            RETURNING id
            """,
            {"user": user_id, "now": now},
        )
        ids = [row[0] for row in cur.fetchall()]
        lo, hi = min(ids), max(ids)
        params = {"lo": lo, "hi": hi, "user": user_id, "now": now}
        # New on the book: the next accrual run catches each loan up from its start.
        cur.execute(
            "INSERT INTO loans_loanbalance (loan_id, rolled_up_total, rolled_up_through, "
            "interest_settled, interest_capitalised, catch_up, restate_cause) "
            "SELECT id, 0, '0001-01-01', 0, 0, true, '' FROM loans_loan "
            "WHERE id BETWEEN %(lo)s AND %(hi)s",
            params,
        )
        cur.execute(
            "INSERT INTO loans_ratechange (loan_id, effective_date, rate, created_by_id, "
            "created_at, reason) SELECT id, start_date, rate, %(user)s, %(now)s, 'rate at booking' "
            "FROM loans_loan WHERE id BETWEEN %(lo)s AND %(hi)s",
            params,
        )
        cur.execute(
            "INSERT INTO loans_principalchange (loan_id, kind, effective_date, amount, "
            "created_by_id, created_at, reason) SELECT id, 'drawdown', start_date, principal, "
            "%(user)s, %(now)s, 'principal at booking' FROM loans_loan "
            "WHERE id BETWEEN %(lo)s AND %(hi)s",
            params,
        )
        amounts = segment_amounts_sql("principal", "rate", "day_count")
        cur.execute(
            "INSERT INTO loans_loanterms (loan_id, day_count, valid_from, valid_to, principal, "
            "rate, daily_amount, daily_amount_leap, daily_amount_2, daily_amount_3) "
            "SELECT id, day_count, start_date, NULL, principal, rate, "
            + ", ".join(
                amounts[k]
                for k in ("daily_amount", "daily_amount_leap", "daily_amount_2", "daily_amount_3")
            )
            + " FROM loans_loan WHERE id BETWEEN %(lo)s AND %(hi)s",
            params,
        )
        cur.execute(
            "INSERT INTO loans_loanevent (loan_id, kind, from_status, to_status, actor_id, at, "
            "reason, data) SELECT id, 'booked', '', 'active', %(user)s, %(now)s, "
            "'synthetic book (seed_synthetic)', '{}'::jsonb FROM loans_loan "
            "WHERE id BETWEEN %(lo)s AND %(hi)s",
            params,
        )
    with connection.cursor() as cur:
        cur.execute("ANALYZE loans_loan, loans_loanbalance, loans_loanterms")
    return [lo, hi]
