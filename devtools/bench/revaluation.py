"""Benchmark figures of the revaluation engine (quality.md): full revaluation and margin check
of the whole book as a ratio to a bare SQL statement that computes the same LTVs into a table
in the same run, and against a naive per-loan ORM loop."""

from __future__ import annotations

import math
import statistics
import time
from datetime import timedelta
from decimal import Decimal

from django.db import connection, transaction

from collateral.engine import house_defaults, revalue
from collateral.models import CollateralPosition, Haircut, LoanValuation, PriceSnapshot
from devtools.bench.registry import BenchGroup, Figure, register_bench
from devtools.synthetic.collateral import seed_collateral
from devtools.synthetic.loans import seed_synthetic
from financing import clock
from loans.models import VALUED_STATUSES, Loan, LoanBalance

NAIVE_SAMPLE = 1000
LIVE = VALUED_STATUSES
TARGET_RATIO = 3  # the engine's run / the bare LTV statement's

#: The baseline: every live loan's LTV from positions x latest prices x haircuts, grouped per
#: loan, into a table, in one statement. (The synthetic book's haircuts are per asset and its
#: collateral is per loan, so these are the LTVs the engine computes; the engine also resolves
#: the most specific haircut, pooled collateral and margin terms, and opens or moves calls.)
BARE_LTV = """
    INSERT INTO bench_ltv_bare (loan_id, exposure_usd, collateral_value_usd, ltv)
    WITH px AS (
        SELECT DISTINCT ON (asset_id) asset_id, price_usd FROM collateral_pricesnapshot
        ORDER BY asset_id, as_of DESC
    ), coll AS (
        SELECT p.loan_id, SUM(p.quantity * px.price_usd * (1 - h.haircut)) AS value
        FROM collateral_collateralposition p
        JOIN px ON px.asset_id = p.asset_id
        JOIN collateral_haircut h ON h.asset_id = p.asset_id AND h.venue_id IS NULL
                                 AND h.counterparty_id IS NULL
        WHERE p.loan_id IS NOT NULL
        GROUP BY p.loan_id
    )
    SELECT l.id, e.usd, coll.value, e.usd / NULLIF(coll.value, 0)
    FROM loans_loan l
    JOIN loans_loanbalance b ON b.loan_id = l.id
    JOIN px lp ON lp.asset_id = l.asset_id
    CROSS JOIN LATERAL (
        SELECT (l.outstanding_principal + b.rolled_up_total - b.interest_settled
                - b.interest_capitalised) * lp.price_usd AS usd
    ) e
    LEFT JOIN coll ON coll.loan_id = l.id
    WHERE l.status IN ('active', 'recalled', 'defaulted')
"""


class _Rollback(Exception):
    pass


def _naive_value(loan_ids, now, run_id) -> None:
    """What a per-loan ORM job would do: read the loan, its balance, its positions, each price
    and haircut, compute in Python and write a valuation row."""
    d = house_defaults()
    for loan_id in loan_ids:
        loan = Loan.objects.get(pk=loan_id)
        balance = LoanBalance.objects.get(loan=loan)
        price = PriceSnapshot.objects.filter(asset_id=loan.asset_id).order_by("-as_of").first()
        exposure = (loan.outstanding_principal + balance.rolled_up_total) * price.price_usd
        value = Decimal(0)
        for pos in CollateralPosition.objects.filter(loan=loan):
            p = PriceSnapshot.objects.filter(asset_id=pos.asset_id).order_by("-as_of").first()
            h = Haircut.objects.filter(
                asset_id=pos.asset_id, venue__isnull=True, counterparty__isnull=True
            ).first()
            value += pos.quantity * p.price_usd * (1 - h.haircut)
        ltv = exposure / value if value else None
        LoanValuation.objects.create(
            run_id=run_id,
            loan=loan,
            valued_at=now,
            exposure_qty=loan.outstanding_principal,
            loan_price_usd=price.price_usd,
            exposure_usd=exposure,
            collateral_value_usd=value,
            ltv=ltv,
            stale=False,
            band="ok",
            initial_ltv=d["initial_ltv"],
            warning_ltv=d["warning_ltv"],
            call_ltv=d["call_ltv"],
            liquidation_ltv=d["liquidation_ltv"],
            release_ltv=d["release_ltv"],
            lines=[],
        )


def _bare_ltv_seconds() -> tuple[float, int]:
    """The bare LTV statement into a fresh table, timed from the statement to its commit."""
    with connection.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS bench_ltv_bare")
        cur.execute(
            "CREATE TABLE bench_ltv_bare (loan_id bigint PRIMARY KEY, exposure_usd"
            " numeric(38, 18), collateral_value_usd numeric(38, 18), ltv numeric(38, 18))"
        )
    t0 = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cur:
        cur.execute(BARE_LTV)
        rows = cur.rowcount
    seconds = time.perf_counter() - t0
    with connection.cursor() as cur:
        cur.execute("DROP TABLE bench_ltv_bare")
    return seconds, rows


def run(*, scale: int, out) -> list[Figure]:
    now = clock.now()
    live = Loan.objects.filter(status__in=LIVE).count()
    if live < scale:
        t0 = time.perf_counter()
        seed_synthetic(loans=scale - live, start=clock.yesterday(now) - timedelta(days=3))
        out(f"seeded {scale - live:,} more active loans in {time.perf_counter() - t0:.1f}s")
    t0 = time.perf_counter()
    seeded = seed_collateral(now=now)
    positions = CollateralPosition.objects.filter(loan__status__in=LIVE).count()
    out(
        f"seeded {seeded['positions']:,} collateral positions in {time.perf_counter() - t0:.1f}s"
        f" ({positions:,} on live loans)"
    )
    with connection.cursor() as cur:
        cur.execute(
            "VACUUM ANALYZE collateral_collateralposition, loans_loan, loans_loanbalance,"
            " loans_accrual, collateral_pricesnapshot"
        )

    figures: list[Figure] = []
    # 1. The first run values every loan and opens every call the book deserves (the worst
    # case: a market move that calls thousands of loans at once); then steady runs, where
    # calls are only refreshed.
    samples, bare = [], []
    for k in range(3):
        t = now + timedelta(seconds=k)
        t0 = time.perf_counter()
        result = revalue(now=t, trigger="bench")
        seconds = time.perf_counter() - t0
        r = result.run
        bare_s, bare_rows = _bare_ltv_seconds()
        out(
            f"run {k + 1}: {r.loans_valued:,} loans in {seconds:.2f}s; calls opened "
            f"{r.calls_opened:,}, liquidation {r.calls_liquidation:,}, warnings {r.warnings:,}; "
            f"steps {r.steps}; bare LTV statement {bare_rows:,} loans in {bare_s:.2f}s"
        )
        samples.append((seconds, r))
        bare.append(bare_s)
    first = samples[0][1]
    steady = statistics.median(s for s, _r in samples[1:])
    worst = max(s for s, _r in samples)
    bare_s = statistics.median(bare)
    ratio = worst / bare_s
    figures.append(
        Figure(
            name=f"full revaluation + margin check, {first.loans_valued:,} loans, "
            f"{positions:,} positions: slowest of 3 runs vs a bare LTV statement",
            value=ratio,
            unit="x",
            target=f"<= {TARGET_RATIO}x",
            ok=ratio <= TARGET_RATIO,
            beside=f"{worst:.3f} s vs {bare_s:.3f} s",
            detail={
                "engine_seconds": [round(s, 3) for s, _r in samples],
                "bare_seconds": [round(b, 3) for b in bare],
                "first_run_calls_opened": first.calls_opened,
                "first_run_steps": first.steps,
                "steady_median_seconds": round(steady, 3),
                "steady_steps": samples[-1][1].steps,
            },
        )
    )
    # 2. The naive per-loan ORM loop on a sample, rolled back; its rate against the engine's.
    sample = list(
        Loan.objects.filter(status__in=LIVE, collateral_positions__isnull=False)
        .order_by("pk")
        .values_list("pk", flat=True)
        .distinct()[:NAIVE_SAMPLE]
    )
    elapsed = 0.0
    try:
        with transaction.atomic():
            t0 = time.perf_counter()
            _naive_value(sample, now, samples[-1][1].pk)
            elapsed = time.perf_counter() - t0
            raise _Rollback
    except _Rollback:
        pass
    naive_rate = len(sample) / elapsed if elapsed else 0
    engine_rate = first.loans_valued / steady
    figures.append(
        Figure(
            name=f"  ... naive per-loan ORM loop (valuation only, {len(sample):,}-loan sample): "
            "time per loan vs the engine's",
            value=engine_rate / naive_rate if naive_rate else math.inf,
            unit="x",
            beside=f"{naive_rate:,.0f} vs {engine_rate:,.0f} loans/s",
            detail={"naive_seconds": round(elapsed, 3)},
        )
    )
    out(
        f"naive loop {naive_rate:,.0f} loans/s vs engine {engine_rate:,.0f} loans/s "
        f"({engine_rate / naive_rate:,.0f}x)"
    )
    return figures


register_bench(BenchGroup(name="revaluation", order=20, run=run))
