"""The revaluation engine: values loans and their collateral, set-based, and runs the margin
check (domain.md, Collateral and margin).

`revalue(now=, scope=, ...)` works in a handful of statements whatever the size of the book:

1. the newest price per asset at `now` (a lateral index probe per asset), stale when older
   than the staleness limit;
2. the loans in scope with their exposure (outstanding principal + accrued unsettled interest)
   and their margin terms resolved field by field: the loan's own, else the most specific
   policy (counterparty + asset, counterparty, asset, house default), else settings;
3. their collateral positions with the haircut resolved (venue + counterparty, counterparty,
   venue, asset default) and the haircut value; pooled positions (no loan) are shared among the
   counterparty's loans of the same direction pro rata to exposure;
4. one valuation row per loan (with its prices, haircuts and lines) and the latest state;
5. the margin check: calls met (at the initial LTV, or below the call level by the hysteresis
   buffer), escalated (deadline passed), moved to liquidation (liquidation LTV), opened (call
   LTV; one per loan by a partial unique index), each with its event and notice; then alerts.

No call is issued or moved on a stale valuation: a stale-price alert is raised instead.
Every run holds one transaction-level advisory lock, so runs never interleave; the one-open-call
index holds even if they did. Each figure is rounded once to 18 places, half-even.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import connection, transaction

from collateral.alerts import alerts_for_run
from collateral.models import RevaluationRun
from collateral.results import RunResult
from financing.jobs.services import xact_advisory_lock
from loans.accrual import half_even_sql

# Loans whose margin is watched; calls open only on the callable ones (margin.py and
# services/movements.py read them here).
from loans.models import CALLABLE_STATUSES, VALUED_STATUSES  # noqa: F401

REVALUATION_LOCK = "collateral.revaluation"
#: USD figures are NUMERIC(38,18): anything past this is a data error, capped and flagged stale.
ABSURD = "10000000000000000000::numeric"

MARGIN_FIELDS = ("initial_ltv", "warning_ltv", "call_ltv", "liquidation_ltv", "release_ltv")


DROP_TEMP_SQL = "DROP TABLE IF EXISTS rv_px, rv_loan, rv_pos, rv_val"


def house_defaults() -> dict[str, Decimal | int]:
    d = settings.MARGIN_DEFAULTS
    return {k: (Decimal(d[k]) if k != "cure_hours" else int(d[k])) for k in d}


def stale_after() -> timedelta:
    return timedelta(minutes=settings.PRICE_STALE_MINUTES)


def _round(n: str) -> str:
    """round_half_even(n, 18) for n >= 0, exactly: trunc() and a comparison of the dropped
    digits with one half, no division (PostgreSQL's round() goes half away from zero)."""
    s = f"(({n}) * 1000000000000000000::numeric)"
    return (
        f"((trunc({s}) + CASE WHEN {s} - trunc({s}) > 0.5 OR ({s} - trunc({s}) = 0.5 "
        f"AND mod(trunc({s}), 2) = 1) THEN 1 ELSE 0 END) * 0.000000000000000001::numeric)"
    )


def _div(n: str, d: str) -> str:
    return half_even_sql(n, d)


@dataclass
class Scope:
    """Which loans a run values: the whole book, some loans, or the loans some assets touch."""

    kind: str = RevaluationRun.Scope.BOOK
    loan_ids: tuple[int, ...] = ()
    asset_ids: tuple[int, ...] = ()


# -------------------------------------------------------------------- SQL, step by step

_PRICES_SQL = """
CREATE TEMP TABLE rv_px ON COMMIT DROP AS
SELECT a.id AS asset_id, a.symbol, p.id AS snapshot_id, p.as_of, p.source,
       p.price_usd AS market_price,
       {shocked} AS price_usd,
       (p.as_of < %(stale_before)s) AS stale,
       to_char(p.as_of AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS as_of_text,
       trim_scale({shocked})::text AS price_text
FROM refdata_asset a
CROSS JOIN LATERAL (
    SELECT s.id, s.price_usd, s.as_of, s.source FROM collateral_pricesnapshot s
    WHERE s.asset_id = a.id AND s.as_of <= %(now)s
    ORDER BY s.as_of DESC, s.id DESC LIMIT 1
) p
"""


def _policy(field: str, default: str) -> str:
    return f"COALESCE(l.{field}, pca.{field}, pc.{field}, pa.{field}, p0.{field}, {default})"


def _loans_sql(scope: Scope) -> str:
    where = ["l.status IN ('active', 'recalled', 'defaulted')"]
    if scope.kind == RevaluationRun.Scope.LOANS:
        # With pooled collateral, every loan sharing the pool is revalued: the shares move.
        where.append(
            """(l.id = ANY(%(loan_ids)s)
            OR (l.counterparty_id IN (SELECT counterparty_id FROM loans_loan
                                      WHERE id = ANY(%(loan_ids)s))
                AND EXISTS (SELECT 1 FROM collateral_collateralposition cp
                            WHERE cp.loan_id IS NULL AND cp.counterparty_id = l.counterparty_id
                              AND cp.quantity > 0)))"""
        )
    elif scope.kind == RevaluationRun.Scope.TOUCHED:
        # Loans whose asset or own collateral is in the touched assets, and every loan sharing
        # a pool whose value or whose loans' exposure the new prices move.
        where.append(
            """(l.asset_id = ANY(%(asset_ids)s)
            OR EXISTS (SELECT 1 FROM collateral_collateralposition cp
                       WHERE cp.loan_id = l.id AND cp.asset_id = ANY(%(asset_ids)s)
                         AND cp.quantity > 0)
            OR EXISTS (SELECT 1 FROM collateral_collateralposition cp
                       WHERE cp.loan_id IS NULL AND cp.counterparty_id = l.counterparty_id
                         AND cp.quantity > 0
                         AND (cp.asset_id = ANY(%(asset_ids)s)
                              OR EXISTS (SELECT 1 FROM loans_loan s
                                         WHERE s.counterparty_id = l.counterparty_id
                                           AND s.status IN ('active', 'recalled', 'defaulted')
                                           AND s.asset_id = ANY(%(asset_ids)s)))))"""
        )
    terms = ",\n".join(f"{_policy(f, f'%(d_{f})s::numeric')} AS {f}" for f in MARGIN_FIELDS)
    exposure_qty = (
        "(l.outstanding_principal + b.rolled_up_total + COALESCE(r.s, 0) "
        "- b.interest_settled - b.interest_capitalised)"
    )
    return f"""
CREATE TEMP TABLE rv_loan ON COMMIT DROP AS
SELECT l.id AS loan_id, l.counterparty_id, l.direction, l.asset_id, l.status,
       {exposure_qty} AS exposure_qty,
       px.price_usd AS loan_price, px.as_of AS loan_price_as_of, px.source AS loan_price_source,
       (COALESCE(px.stale, true) OR {exposure_qty} * px.price_usd >= {ABSURD})
           AS loan_price_stale,
       CASE WHEN px.price_usd IS NULL THEN NULL
            ELSE LEAST({ABSURD}, {_round(f"GREATEST({exposure_qty}, 0) * px.price_usd")})
       END AS exposure_usd,
       {terms},
       {_policy("cure_hours", "%(d_cure_hours)s")} AS cure_hours
FROM loans_loan l
JOIN loans_loanbalance b ON b.loan_id = l.id
LEFT JOIN LATERAL (
    SELECT sum(a.amount) AS s FROM loans_accrual a
    WHERE a.loan_id = l.id AND a.kind = 'accrual' AND a.date > b.rolled_up_through
) r ON true
LEFT JOIN rv_px px ON px.asset_id = l.asset_id
LEFT JOIN collateral_marginpolicy pca
       ON pca.counterparty_id = l.counterparty_id AND pca.asset_id = l.asset_id
LEFT JOIN collateral_marginpolicy pc
       ON pc.counterparty_id = l.counterparty_id AND pc.asset_id IS NULL
LEFT JOIN collateral_marginpolicy pa ON pa.counterparty_id IS NULL AND pa.asset_id = l.asset_id
LEFT JOIN collateral_marginpolicy p0 ON p0.counterparty_id IS NULL AND p0.asset_id IS NULL
WHERE {" AND ".join(where)}
"""


_POSITION_VALUE = _round(
    "cp.quantity * px.price_usd * (1 - COALESCE(h3.haircut, h2.haircut, h1.haircut, "
    "h0.haircut, %(default_haircut)s::numeric))"
)

_POSITIONS_SQL = f"""
CREATE TEMP TABLE rv_pos ON COMMIT DROP AS
SELECT cp.id AS position_id, cp.loan_id, cp.counterparty_id, cp.direction,
       cp.asset_id, a.symbol, v.code AS venue, cp.quantity,
       px.price_usd, px.as_of, px.as_of_text, px.price_text,
       -- A value too large to be real (past 1e19 USD) is capped and flagged, never allowed to
       -- fail the whole book's run.
       (COALESCE(px.stale, true) OR cp.quantity * px.price_usd >= {ABSURD}) AS stale,
       COALESCE(h3.haircut, h2.haircut, h1.haircut, h0.haircut, %(default_haircut)s::numeric)
           AS haircut,
       CASE WHEN h3.id IS NOT NULL THEN 'venue+counterparty'
            WHEN h2.id IS NOT NULL THEN 'counterparty'
            WHEN h1.id IS NOT NULL THEN 'venue'
            WHEN h0.id IS NOT NULL THEN 'asset'
            ELSE 'none' END AS haircut_scope,
       CASE WHEN px.price_usd IS NULL THEN 0 ELSE LEAST({ABSURD}, {_POSITION_VALUE}) END
           AS value
FROM collateral_collateralposition cp
JOIN refdata_asset a ON a.id = cp.asset_id
JOIN refdata_venue v ON v.id = cp.venue_id
LEFT JOIN rv_px px ON px.asset_id = cp.asset_id
LEFT JOIN collateral_haircut h3 ON h3.asset_id = cp.asset_id AND h3.venue_id = cp.venue_id
      AND h3.counterparty_id = cp.counterparty_id
LEFT JOIN collateral_haircut h2 ON h2.asset_id = cp.asset_id AND h2.venue_id IS NULL
      AND h2.counterparty_id = cp.counterparty_id
LEFT JOIN collateral_haircut h1 ON h1.asset_id = cp.asset_id AND h1.venue_id = cp.venue_id
      AND h1.counterparty_id IS NULL
LEFT JOIN collateral_haircut h0 ON h0.asset_id = cp.asset_id AND h0.venue_id IS NULL
      AND h0.counterparty_id IS NULL
WHERE cp.quantity > 0
  AND (cp.loan_id IN (SELECT loan_id FROM rv_loan)
       OR (cp.loan_id IS NULL AND cp.counterparty_id IN (SELECT counterparty_id FROM rv_loan)))
"""

_POOL_DIRECTION = "CASE l.direction WHEN 'lend' THEN 'received' ELSE 'posted' END"


def _div_step(n: str, d: str, name: str) -> tuple[str, str]:
    """round_half_even(n / d, 18) for n >= 0, d > 0 in two query levels with one division: the
    inner level computes the scaled numerator and its integer quotient as columns; the outer
    level the remainder (a product, not a second division) and the rounding."""
    inner = (
        f"({n}) * 1000000000000000000::numeric AS {name}_s, "
        f"div(({n}) * 1000000000000000000::numeric, ({d})) AS {name}_q"
    )
    r = f"({name}_s - {name}_q * ({d}))"
    outer = (
        f"(({name}_q + CASE WHEN 2 * {r} > ({d}) OR (2 * {r} = ({d}) AND mod({name}_q, 2) = 1) "
        f"THEN 1 ELSE 0 END) * 0.000000000000000001::numeric)"
    )
    return inner, outer


_LTV_IN, _LTV_OUT = _div_step("x.exposure_usd", "x.collateral_div", "ltv")
_TGT_IN, _TGT_OUT = _div_step("x.exposure_usd", "x.initial_ltv", "tgt")
_SHARE_IN, _SHARE_OUT = _div_step("pool.v * w.exposure_usd", "NULLIF(pw.weight, 0)", "share")

_VALUES_SQL = f"""
CREATE TEMP TABLE rv_val ON COMMIT DROP AS
WITH own AS (
    SELECT loan_id, sum(value) AS v, bool_or(stale) AS s
    FROM rv_pos WHERE loan_id IS NOT NULL GROUP BY loan_id
), pool AS (
    SELECT counterparty_id, direction, sum(value) AS v, bool_or(stale) AS s
    FROM rv_pos WHERE loan_id IS NULL GROUP BY counterparty_id, direction
), w AS (
    SELECT l.*, {_POOL_DIRECTION} AS pool_direction FROM rv_loan l
), pw AS (
    -- The pool's share key: exposure of the counterparty's loans of that direction.
    SELECT w.counterparty_id, w.pool_direction, sum(w.exposure_usd) AS weight
    FROM w JOIN pool ON pool.counterparty_id = w.counterparty_id
                    AND pool.direction = w.pool_direction
    GROUP BY w.counterparty_id, w.pool_direction
), v0 AS (
    SELECT w.*, pw.weight AS pool_weight,
           COALESCE(own.v, 0) AS own_value,
           pool.v AS pool_value,
           (own.loan_id IS NOT NULL OR pool.v IS NOT NULL) AS has_collateral,
           (w.loan_price_stale OR COALESCE(own.s, false) OR COALESCE(pool.s, false)) AS stale,
           CASE WHEN pool.v IS NOT NULL AND w.exposure_usd IS NOT NULL AND pw.weight > 0
                THEN true ELSE false END AS shared,
           {_SHARE_IN}
    FROM w
    LEFT JOIN own ON own.loan_id = w.loan_id
    LEFT JOIN pool ON pool.counterparty_id = w.counterparty_id
                  AND pool.direction = w.pool_direction
    LEFT JOIN pw ON pw.counterparty_id = w.counterparty_id
                AND pw.pool_direction = w.pool_direction
), v AS MATERIALIZED (
    SELECT v0.*, CASE WHEN v0.shared THEN {_SHARE_OUT.replace("pw.weight", "v0.pool_weight")}
                      ELSE 0 END AS pooled_value
    FROM v0
), x0 AS (
    SELECT v.*, v.own_value + v.pooled_value AS collateral_value FROM v
), x1 AS MATERIALIZED (
    SELECT x.*, {_LTV_IN}, {_TGT_IN}
    FROM (SELECT x0.*, CASE WHEN x0.collateral_value > 0 THEN x0.collateral_value ELSE 1 END
                 AS collateral_div FROM x0) x
), x AS MATERIALIZED (
    SELECT x.*,
           CASE WHEN x.exposure_usd IS NULL THEN NULL
                WHEN x.exposure_usd = 0 THEN 0
                WHEN x.collateral_value > 0 THEN {_LTV_OUT}
                ELSE NULL END AS ltv,
           CASE WHEN x.exposure_usd IS NULL THEN NULL ELSE {_TGT_OUT} END AS target_value
    FROM x1 x
)
SELECT nextval('collateral_loanvaluation_id_seq') AS valuation_id, x.*,
       CASE WHEN x.exposure_usd IS NULL THEN 'unknown'
            WHEN x.ltv IS NULL OR x.ltv >= x.liquidation_ltv THEN 'liquidation'
            WHEN x.ltv >= x.call_ltv THEN 'call'
            WHEN x.ltv >= x.warning_ltv THEN 'warning'
            ELSE 'ok' END AS band,
       CASE WHEN x.exposure_usd IS NULL THEN 0
            ELSE GREATEST(x.target_value - x.collateral_value, 0) END AS top_up_usd,
       CASE WHEN x.ltv IS NOT NULL AND x.ltv < x.release_ltv
            THEN GREATEST(x.collateral_value - x.target_value, 0)
            ELSE 0 END AS excess_usd,
       CASE WHEN x.exposure_usd IS NULL THEN NULL
            WHEN x.ltv IS NULL THEN -1
            ELSE x.call_ltv - x.ltv END AS headroom
FROM x
"""

_LINES = """
    SELECT p.loan_id, jsonb_agg(jsonb_build_object(
        'position', p.position_id, 'asset', p.symbol, 'venue', p.venue,
        'quantity', trim_scale(p.quantity)::text, 'price_usd', p.price_text,
        'as_of', p.as_of_text,
        'haircut', trim_scale(p.haircut)::text, 'haircut_scope', p.haircut_scope,
        'value_usd', trim_scale(p.value)::text, 'stale', p.stale, 'pooled', false) ORDER BY p.position_id)
        AS lines
    FROM rv_pos p WHERE p.loan_id IS NOT NULL GROUP BY p.loan_id
"""

_POOL_LINES = f"""
    SELECT v.loan_id, jsonb_agg(jsonb_build_object(
        'position', p.position_id, 'asset', p.symbol, 'venue', p.venue,
        'quantity', trim_scale(p.quantity)::text, 'price_usd', p.price_text,
        'as_of', p.as_of_text,
        'haircut', trim_scale(p.haircut)::text, 'haircut_scope', p.haircut_scope,
        'value_usd', trim_scale(p.value)::text, 'stale', p.stale, 'pooled', true,
        'share', CASE WHEN v.pool_weight > 0 AND v.exposure_usd IS NOT NULL
                      THEN trim_scale({_div("v.exposure_usd", "v.pool_weight")})::text ELSE '0' END)
        ORDER BY p.position_id) AS lines
    FROM rv_val v
    JOIN rv_pos p ON p.loan_id IS NULL AND p.counterparty_id = v.counterparty_id
                 AND p.direction = v.pool_direction
    GROUP BY v.loan_id
"""

_INSERT_VALUATIONS_SQL = f"""
INSERT INTO collateral_loanvaluation (
    id, run_id, loan_id, valued_at, exposure_qty, loan_price_usd, exposure_usd,
    collateral_value_usd, pooled_value_usd, ltv, stale, band, initial_ltv, warning_ltv,
    call_ltv, liquidation_ltv, release_ltv, top_up_usd, excess_usd, lines)
SELECT v.valuation_id, %(run)s, v.loan_id, %(now)s, v.exposure_qty, v.loan_price,
       v.exposure_usd,
       CASE WHEN v.exposure_usd IS NULL THEN NULL ELSE v.collateral_value END,
       v.pooled_value, v.ltv, v.stale, v.band, v.initial_ltv, v.warning_ltv,
       v.call_ltv, v.liquidation_ltv, v.release_ltv, v.top_up_usd, v.excess_usd,
       COALESCE(ol.lines, '[]'::jsonb) || COALESCE(pl.lines, '[]'::jsonb)
FROM rv_val v
LEFT JOIN ({_LINES}) ol ON ol.loan_id = v.loan_id
LEFT JOIN ({_POOL_LINES}) pl ON pl.loan_id = v.loan_id
"""

_WARNINGS_SQL = """
SELECT v.loan_id, v.ltv, v.warning_ltv, v.call_ltv
FROM rv_val v LEFT JOIN collateral_loanmarginstate s ON s.loan_id = v.loan_id
WHERE v.band = 'warning' AND NOT v.stale AND v.status IN ('active', 'recalled')
  AND (s.band IS NULL OR s.band IN ('ok', 'unknown'))
"""

# Loans back below their warning level: their warning alerts resolve, so the next crossing
# alerts again.
_RECOVERED_SQL = """
SELECT v.loan_id
FROM rv_val v JOIN collateral_loanmarginstate s ON s.loan_id = v.loan_id
WHERE v.band = 'ok' AND NOT v.stale AND s.band <> 'ok'
"""

_STATE_SQL = """
INSERT INTO collateral_loanmarginstate (
    loan_id, valuation_id, valued_at, exposure_usd, collateral_value_usd, ltv, stale, band,
    headroom)
SELECT v.loan_id, v.valuation_id, %(now)s, v.exposure_usd,
       CASE WHEN v.exposure_usd IS NULL THEN NULL ELSE v.collateral_value END,
       v.ltv, v.stale, v.band, v.headroom
FROM rv_val v
ON CONFLICT (loan_id) DO UPDATE SET
    valuation_id = EXCLUDED.valuation_id, valued_at = EXCLUDED.valued_at,
    exposure_usd = EXCLUDED.exposure_usd, collateral_value_usd = EXCLUDED.collateral_value_usd,
    ltv = EXCLUDED.ltv, stale = EXCLUDED.stale, band = EXCLUDED.band,
    headroom = EXCLUDED.headroom
"""

# Each margin statement moves calls and writes their events in one go (RETURNING feeds the
# event rows); the Python side reads back what moved, for notices' wording and alerts.
_MET_SQL = """
WITH moved AS (
    UPDATE collateral_margincall c
    SET status = 'met', closed_at = %(now)s, current_ltv = v.ltv,
        current_top_up_usd = v.top_up_usd, last_valued_at = %(now)s,
        resolution = CASE WHEN v.ltv <= v.initial_ltv
                          THEN 'LTV back at or below the initial LTV'
                          ELSE 'LTV below the call level less the hysteresis buffer' END
    FROM rv_val v
    WHERE c.loan_id = v.loan_id AND c.closed_at IS NULL AND c.status IN ('open', 'escalated')
      AND NOT v.stale AND v.ltv IS NOT NULL
      AND (v.ltv <= v.initial_ltv
           -- Prices alone (no collateral received against the call) may also meet it once
           -- the LTV is below the call level by the hysteresis buffer; a top-up must reach
           -- the initial LTV.
           OR (v.ltv <= v.call_ltv - %(hysteresis)s
               AND NOT EXISTS (SELECT 1 FROM collateral_collateralmovement m
                               WHERE m.margin_call_id = c.id)))
    RETURNING c.id, c.loan_id, v.ltv, c.resolution, 'met'::text AS to_status,
              (SELECT status FROM collateral_margincall o WHERE o.id = c.id) AS from_status
), ev AS (
    INSERT INTO collateral_margincallevent (call_id, kind, from_status, to_status, at, ltv,
                                            note, data)
    SELECT id, 'met', from_status, 'met', %(now)s, ltv, resolution, '{}'::jsonb FROM moved
)
SELECT id, loan_id, ltv FROM moved
"""

_LIQUIDATION_SQL = """
WITH moved AS (
    UPDATE collateral_margincall c
    SET status = 'liquidation', liquidation_at = %(now)s, current_ltv = v.ltv,
        current_top_up_usd = v.top_up_usd, last_valued_at = %(now)s
    FROM rv_val v
    WHERE c.loan_id = v.loan_id AND c.closed_at IS NULL AND c.status IN ('open', 'escalated')
      AND NOT v.stale AND v.band = 'liquidation'
    RETURNING c.id, c.loan_id, v.ltv,
              (SELECT status FROM collateral_margincall o WHERE o.id = c.id) AS from_status
), ev AS (
    INSERT INTO collateral_margincallevent (call_id, kind, from_status, to_status, at, ltv,
                                            note, data)
    SELECT id, 'liquidation', from_status, 'liquidation', %(now)s, ltv,
           'LTV reached the liquidation level', '{}'::jsonb FROM moved
)
SELECT id, loan_id, ltv FROM moved
"""

_ESCALATE_SQL = """
WITH moved AS (
    UPDATE collateral_margincall c
    SET status = 'escalated', escalated_at = %(now)s
    WHERE c.closed_at IS NULL AND c.status = 'open' AND c.deadline <= %(now)s
      {scope}
    RETURNING c.id, c.loan_id, c.current_ltv AS ltv
), ev AS (
    INSERT INTO collateral_margincallevent (call_id, kind, from_status, to_status, at, ltv,
                                            note, data)
    SELECT id, 'escalated', 'open', 'escalated', %(now)s, ltv,
           'the cure period ended without the call being met', '{}'::jsonb FROM moved
)
SELECT id, loan_id, ltv FROM moved
"""

_OPEN_SQL = """
WITH opened AS (
    INSERT INTO collateral_margincall (
        loan_id, side, status, opened_at, deadline, closed_at, opening_valuation_id,
        opening_ltv, required_top_up_usd, current_ltv, current_top_up_usd, last_valued_at,
        liquidation_at, resolution)
    SELECT v.loan_id,
           CASE v.direction WHEN 'lend' THEN 'on_counterparty' ELSE 'on_firm' END,
           CASE v.band WHEN 'liquidation' THEN 'liquidation' ELSE 'open' END,
           %(now)s, %(now)s + make_interval(hours => v.cure_hours), NULL, v.valuation_id,
           v.ltv, v.top_up_usd, v.ltv, v.top_up_usd, %(now)s,
           CASE v.band WHEN 'liquidation' THEN %(now)s::timestamptz END, ''
    FROM rv_val v
    WHERE v.band IN ('call', 'liquidation') AND NOT v.stale
      AND v.status IN ('active', 'recalled')
      -- A ladder merged from the loan's and a policy's terms could put the call level at or
      -- below the initial LTV: such a call would be met by the next run and reopened by the
      -- one after. It opens only above the initial LTV.
      AND (v.ltv IS NULL OR v.ltv > v.initial_ltv)
    ORDER BY v.loan_id
    ON CONFLICT (loan_id) WHERE closed_at IS NULL DO NOTHING
    RETURNING id, loan_id, status, opening_ltv, required_top_up_usd, deadline
), ev AS (
    INSERT INTO collateral_margincallevent (call_id, kind, from_status, to_status, at, ltv,
                                            note, data)
    SELECT id, 'opened', '', status, %(now)s, opening_ltv,
           CASE status WHEN 'liquidation' THEN 'opened at or above the liquidation LTV'
                ELSE 'LTV reached the margin-call level' END, '{}'::jsonb
    FROM opened
)
SELECT id, loan_id, status, opening_ltv FROM opened
"""

# A call on a loan that left the book (repaid and closed, written off) has nothing left to
# call: it closes, saying why.
_ORPHANED_SQL = """
WITH moved AS (
    UPDATE collateral_margincall c
    SET status = 'met', closed_at = %(now)s,
        resolution = 'the loan left the book (' || l.status || ')'
    FROM loans_loan l
    WHERE l.id = c.loan_id AND c.closed_at IS NULL
      AND l.status NOT IN ('active', 'recalled', 'defaulted')
      {scope}
    RETURNING c.id, c.loan_id, c.current_ltv AS ltv, l.status AS loan_status,
              (SELECT status FROM collateral_margincall o WHERE o.id = c.id) AS from_status
), ev AS (
    INSERT INTO collateral_margincallevent (call_id, kind, from_status, to_status, at, ltv,
                                            note, data)
    SELECT id, 'met', from_status, 'met', %(now)s, ltv,
           'the loan left the book (' || loan_status || ')',
           '{}'::jsonb FROM moved
)
SELECT id, loan_id, ltv FROM moved
"""

_REFRESH_CALLS_SQL = """
UPDATE collateral_margincall c
SET current_ltv = v.ltv, current_top_up_usd = v.top_up_usd, last_valued_at = %(now)s
FROM rv_val v
WHERE c.loan_id = v.loan_id AND c.closed_at IS NULL AND c.last_valued_at <= %(now)s
"""

# Notices to the counterparty for what the firm calls (lend loans); calls on the firm are
# tracked, not notified. One notice per call and kind (unique), worded from the call itself.
_NOTICES_SQL = """
INSERT INTO collateral_margincallnotice (call_id, kind, sent_at, recipient, subject, body)
SELECT c.id, %(kind)s, %(now)s, cp.name || ' (' || cp.code || ')',
       'L' || l.id || ' ' || %(subject)s,
       format(%(body)s, 'L' || l.id, a.symbol, trim_scale(l.outstanding_principal)::text,
              COALESCE(round(c.current_ltv * 100, 2)::text, 'n/a (no collateral)'),
              round(v.call_ltv * 100, 2)::text, to_char(round(c.current_top_up_usd, 2), 'FM999,999,999,999,990.00'),
              to_char(c.deadline AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI "UTC"'),
              round(v.initial_ltv * 100, 2)::text, round(v.liquidation_ltv * 100, 2)::text)
FROM collateral_margincall c
JOIN loans_loan l ON l.id = c.loan_id
JOIN refdata_counterparty cp ON cp.id = l.counterparty_id
JOIN refdata_asset a ON a.id = l.asset_id
JOIN rv_val v ON v.loan_id = c.loan_id
WHERE c.id = ANY(%(ids)s) AND c.side = 'on_counterparty'
ON CONFLICT DO NOTHING
"""

# format() arguments: 1 loan, 2 asset, 3 outstanding principal, 4 LTV %, 5 call level %,
# 6 top-up USD, 7 deadline, 8 initial LTV %, 9 liquidation level %.
NOTICE_TEXT = {
    "call": (
        "margin call",
        "Margin call on loan %1$s (%2$s, outstanding %3$s %2$s). The loan-to-value ratio is "
        "%4$s%%, at or above the margin-call level of %5$s%%. Please post collateral worth "
        "USD %6$s after haircuts by %7$s to restore the initial LTV of %8$s%%. Collateral "
        "will be liquidated if LTV reaches %9$s%%.",
    ),
    "escalation": (
        "margin call deadline passed",
        "The margin call on loan %1$s (%2$s, outstanding %3$s %2$s) was not met by its deadline "
        "of %7$s. LTV is %4$s%% against a call level of %5$s%%; collateral worth USD %6$s "
        "after haircuts is still required. Collateral will be liquidated if LTV reaches %9$s%%.",
    ),
    "liquidation": (
        "liquidation notice",
        "Loan %1$s (%2$s, outstanding %3$s %2$s) has reached an LTV of %4$s%%, at or above the "
        "liquidation level of %9$s%%. Collateral will be sold down to restore the initial LTV "
        "of %8$s%%; a statement of the sale, the proceeds applied and any surplus follows.",
    ),
    "met": (
        "margin call met",
        "The margin call on loan %1$s (%2$s, outstanding %3$s %2$s) is met: LTV is %4$s%%, "
        "below the margin-call level of %5$s%%. Nothing further is required.",
    ),
}


def _params(now: datetime, scope: Scope, run_id: int | None = None) -> dict:
    d = house_defaults()
    p = {
        "now": now,
        "stale_before": now - stale_after(),
        "default_haircut": Decimal(settings.COLLATERAL_DEFAULT_HAIRCUT),
        "hysteresis": Decimal(settings.MARGIN_HYSTERESIS),
        "loan_ids": list(scope.loan_ids),
        "asset_ids": list(scope.asset_ids),
        "run": run_id,
        "d_cure_hours": d["cure_hours"],
    }
    for f in MARGIN_FIELDS:
        p[f"d_{f}"] = d[f]
    return p


def build_valuations(
    cur,
    *,
    now: datetime,
    scope: Scope,
    shocks: dict[int, Decimal] | None = None,
    params: dict,
    steps: dict,
) -> None:
    """Steps 1-3 and the per-loan figures into temp tables (rv_px, rv_loan, rv_pos, rv_val).
    With `shocks` ({asset_id: fraction}) prices move by that fraction: the stress test."""
    if shocks:
        cases = " ".join(f"WHEN {int(a)} THEN {Decimal(s)!s}::numeric" for a, s in shocks.items())
        shocked = f"p.price_usd * (1 + CASE a.id {cases} ELSE 0 END)"
    else:
        shocked = "p.price_usd"
    # Several runs may share one transaction (a top-up revalues inside the caller's): the temp
    # tables of an earlier run are dropped first (ON COMMIT DROP only fires at commit).
    cur.execute(DROP_TEMP_SQL)
    # Short set-based statements: compiling them (JIT) costs more than it saves, and sorts and
    # hashes over the whole book want more than the default 4 MB.
    cur.execute("SET LOCAL jit = off")
    cur.execute("SET LOCAL work_mem = '128MB'")
    for name, sql in (
        ("prices", _PRICES_SQL.replace("{shocked}", shocked)),
        ("loans", _loans_sql(scope)),
        ("positions", _POSITIONS_SQL),
        ("values", _VALUES_SQL),
    ):
        t = time.perf_counter()
        cur.execute(sql, params)
        if name in ("loans", "positions"):
            cur.execute(f"ANALYZE rv_{'loan' if name == 'loans' else 'pos'}")
        steps[name] = round(time.perf_counter() - t, 4)
    # The margin statements join rv_val by loan to calls whose statistics may be stale (calls
    # opened moments ago): an index keeps every plan a probe, never a scan per call.
    cur.execute("CREATE UNIQUE INDEX ON rv_val (loan_id)")
    cur.execute("ANALYZE rv_val")


def revalue(*, now: datetime, scope: Scope | None = None, trigger: str = "manual") -> RunResult:
    """Value the loans in scope and run the margin check. See the module docstring."""
    scope = scope or Scope()
    started = time.perf_counter()
    steps: dict[str, float] = {}
    with transaction.atomic(), xact_advisory_lock(REVALUATION_LOCK):
        run = RevaluationRun.objects.create(
            scope=scope.kind, trigger=trigger, started_at=now, assets=[]
        )
        params = _params(now, scope, run.pk)
        with connection.cursor() as cur:
            build_valuations(cur, now=now, scope=scope, params=params, steps=steps)

            def step(name: str, sql: str, fetch: bool = False):
                t = time.perf_counter()
                cur.execute(sql, params)
                rows = cur.fetchall() if fetch else None
                steps[name] = round(time.perf_counter() - t, 4)
                return rows

            step("valuations", _INSERT_VALUATIONS_SQL)
            warnings = step("warnings", _WARNINGS_SQL, fetch=True)
            recovered = [r[0] for r in step("recovered", _RECOVERED_SQL, fetch=True)]
            step("state", _STATE_SQL)
            met = step("calls_met", _MET_SQL, fetch=True)
            liquidation = step("calls_liquidation", _LIQUIDATION_SQL, fetch=True)
            escalate_scope = (
                ""
                if scope.kind == RevaluationRun.Scope.BOOK
                else "AND c.loan_id IN (SELECT loan_id FROM rv_val)"
            )
            escalated = step(
                "calls_escalated", _ESCALATE_SQL.replace("{scope}", escalate_scope), fetch=True
            )
            opened = step("calls_opened", _OPEN_SQL, fetch=True)
            orphan_scope = (
                ""
                if scope.kind == RevaluationRun.Scope.BOOK
                else "AND c.loan_id = ANY(%(loan_ids)s)"
            )
            met += step(
                "calls_orphaned", _ORPHANED_SQL.replace("{scope}", orphan_scope), fetch=True
            )
            step("calls_refresh", _REFRESH_CALLS_SQL)
            t = time.perf_counter()
            for kind, rows in (
                ("call", [r for r in opened if r[2] == "open"]),
                ("liquidation", [r for r in opened if r[2] == "liquidation"] + liquidation),
                ("escalation", escalated),
                ("met", met),
            ):
                if rows:
                    subject, body = NOTICE_TEXT[kind]
                    cur.execute(
                        _NOTICES_SQL,
                        {
                            **params,
                            "kind": kind,
                            "subject": subject,
                            "body": body,
                            "ids": [r[0] for r in rows],
                        },
                    )
            steps["notices"] = round(time.perf_counter() - t, 4)
            cur.execute(
                "SELECT symbol, snapshot_id, trim_scale(market_price)::text, as_of, source, stale"
                " FROM rv_px"
                " WHERE asset_id IN (SELECT asset_id FROM rv_loan UNION"
                " SELECT asset_id FROM rv_pos)"
            )
            prices = cur.fetchall()
            cur.execute(
                "SELECT count(*), count(*) FILTER (WHERE stale), count(*) FILTER (WHERE stale"
                " AND band IN ('call', 'liquidation') AND status IN ('active', 'recalled'))"
                " FROM rv_val"
            )
            valued, stale_count, stale_blocked = cur.fetchone()
            cur.execute(
                "SELECT a.symbol FROM refdata_asset a WHERE a.id IN (SELECT asset_id FROM rv_loan"
                " UNION SELECT asset_id FROM rv_pos) AND a.id NOT IN (SELECT asset_id FROM rv_px)"
            )
            unpriced = [r[0] for r in cur.fetchall()]
            cur.execute(DROP_TEMP_SQL)
        run.prices = {
            sym: {
                "snapshot": sid,
                "price_usd": price,
                "as_of": as_of.isoformat(),
                "source": source,
                "stale": stale,
            }
            for sym, sid, price, as_of, source, stale in prices
        }
        run.assets = sorted(run.prices) if scope.kind != RevaluationRun.Scope.BOOK else []
        stale_assets = sorted([s for s, v in run.prices.items() if v["stale"]] + unpriced)
        fresh_assets = sorted(s for s, v in run.prices.items() if not v["stale"])
        result = RunResult(
            run=run,
            opened=opened,
            met=met,
            escalated=escalated,
            liquidation=liquidation,
            warnings=warnings,
            stale_assets=stale_assets,
            fresh_assets=fresh_assets,
            stale_blocked=stale_blocked,
            recovered=recovered,
        )
        t = time.perf_counter()
        alerts_for_run(result, now=now)
        steps["alerts"] = round(time.perf_counter() - t, 4)
        run.loans_valued = valued
        run.loans_stale = stale_count
        run.calls_opened = len(opened)
        run.calls_met = len(met)
        run.calls_escalated = len(escalated)
        run.calls_liquidation = len(liquidation) + sum(1 for r in opened if r[2] == "liquidation")
        run.warnings = len(warnings)
        run.steps = steps
        run.finished_at = now
        run.seconds = Decimal(str(round(time.perf_counter() - started, 3)))
        run.save()
    return result
