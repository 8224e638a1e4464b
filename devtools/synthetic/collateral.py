"""A synthetic collateral book at scale, for benchmarks (`make bench`): fresh prices for every
asset, haircuts, and two collateral positions per live loan (received for lend loans, posted
for borrow loans) sized so LTVs spread from 35% to 78% (about one loan in twelve at or over a 75% call level)
with 1% between 86% and 96% (liquidation), as after a sharp move. Set-based, like devtools/synthetic/loans.py."""

from __future__ import annotations

from datetime import datetime

from django.db import connection, transaction

from financing.refdata.models import Venue

PRICES = {"BTC": "97000", "ETH": "3500", "USDC": "1", "USDT": "1", "SOL": "240"}
HAIRCUTS = {"BTC": "0.10", "ETH": "0.15", "USDC": "0.02", "USDT": "0.03", "SOL": "0.25"}
#: Which assets collateralise a loan in which asset: stablecoin loans get crypto, and the rest
#: stablecoins plus a little crypto.
VENUES = ["SYN-CUST-A", "SYN-CUST-B", "SYN-EXCH-A"]


def seed_collateral(*, now: datetime, seed: float = 0.17) -> dict[str, int]:
    """Prices at `now`, haircuts, and two positions for every live loan lacking any."""
    for code in VENUES:
        Venue.objects.get_or_create(
            code=code,
            defaults={
                "name": f"{code} (synthetic)",
                "kind": "custodian" if "CUST" in code else "exchange",
            },
        )
    with transaction.atomic(), connection.cursor() as cur:
        cur.execute("SELECT setseed(%s)", [seed])
        cur.execute(
            "INSERT INTO collateral_pricesnapshot (asset_id, price_usd, as_of, source, received_at)"
            " SELECT a.id, p.price::numeric, %s, 'synthetic', %s FROM refdata_asset a"
            " JOIN (SELECT unnest(%s::text[]) sym, unnest(%s::text[]) price) p ON p.sym = a.symbol"
            " ON CONFLICT DO NOTHING",
            [now, now, list(PRICES), list(PRICES.values())],
        )
        cur.execute(
            "INSERT INTO collateral_haircut (asset_id, venue_id, counterparty_id, haircut,"
            " updated_by_id, updated_at)"
            " SELECT a.id, NULL, NULL, h.hc::numeric, u.id, %s FROM refdata_asset a"
            " JOIN (SELECT unnest(%s::text[]) sym, unnest(%s::text[]) hc) h ON h.sym = a.symbol"
            " CROSS JOIN (SELECT id FROM accounts_user WHERE username = 'synthetic') u"
            " ON CONFLICT DO NOTHING",
            [now, list(HAIRCUTS), list(HAIRCUTS.values())],
        )
        cur.execute(
            """
            CREATE TEMP TABLE syn_pos ON COMMIT DROP AS
            WITH px AS (
                SELECT a.id AS asset_id, a.symbol, a.decimals, a.is_stablecoin,
                       s.price_usd, h.haircut
                FROM refdata_asset a
                JOIN LATERAL (SELECT price_usd FROM collateral_pricesnapshot
                              WHERE asset_id = a.id ORDER BY as_of DESC LIMIT 1) s ON true
                JOIN collateral_haircut h ON h.asset_id = a.id AND h.venue_id IS NULL
                                         AND h.counterparty_id IS NULL
            ), coll AS (
                SELECT (SELECT asset_id FROM px WHERE symbol = 'USDC') AS usdc,
                       (SELECT asset_id FROM px WHERE symbol = 'USDT') AS usdt,
                       (SELECT asset_id FROM px WHERE symbol = 'BTC') AS btc,
                       (SELECT asset_id FROM px WHERE symbol = 'ETH') AS eth
            ), venues AS (
                SELECT array_agg(id ORDER BY code) AS ids FROM refdata_venue
                WHERE code = ANY(%(venues)s)
            ), loans AS (
                SELECT l.id, l.counterparty_id, l.direction, lp.price_usd * l.outstanding_principal
                           AS exposure,
                       lp.is_stablecoin AS stable_loan,
                       (CASE WHEN random() < 0.01 THEN 0.86 + 0.1 * random()
                             ELSE 0.35 + 0.43 * random() END)::numeric AS target_ltv, random()::numeric AS split
                FROM loans_loan l JOIN px lp ON lp.asset_id = l.asset_id
                WHERE l.status IN ('active', 'recalled', 'defaulted')
                  AND NOT EXISTS (SELECT 1 FROM collateral_collateralposition cp
                                  WHERE cp.loan_id = l.id)
            ), legs AS (
                SELECT l.*, leg,
                       CASE WHEN l.stable_loan THEN (CASE leg WHEN 1 THEN c.btc ELSE c.eth END)
                            ELSE (CASE leg WHEN 1 THEN c.usdc ELSE c.usdt END) END AS asset_id,
                       CASE leg WHEN 1 THEN 0.3 + 0.6 * l.split ELSE 0.7 - 0.6 * l.split END
                           AS share
                FROM loans l CROSS JOIN coll c CROSS JOIN generate_series(1, 2) leg
            )
            SELECT g.counterparty_id, g.id AS loan_id,
                   CASE g.direction WHEN 'lend' THEN 'received' ELSE 'posted' END AS direction,
                   g.asset_id, (venues.ids)[1 + (g.id + g.leg) %% 3] AS venue_id,
                   round(g.exposure / g.target_ltv * g.share / (px.price_usd * (1 - px.haircut)),
                         LEAST(px.decimals, 6)) AS quantity
            FROM legs g JOIN px ON px.asset_id = g.asset_id CROSS JOIN venues
            """,
            {"venues": VENUES},
        )
        cur.execute(
            "INSERT INTO collateral_collateralposition (counterparty_id, loan_id, direction,"
            " asset_id, venue_id, quantity, updated_at)"
            " SELECT counterparty_id, loan_id, direction, asset_id, venue_id, quantity, %s"
            " FROM syn_pos WHERE quantity > 0 ON CONFLICT DO NOTHING",
            [now],
        )
        positions = cur.rowcount
    with connection.cursor() as cur:
        cur.execute("ANALYZE collateral_collateralposition, collateral_pricesnapshot")
    return {"positions": positions}
