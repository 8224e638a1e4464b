"""Benchmark figures of the accrual engine (quality.md): one day of the whole book and a
catch-up, each as a ratio to a bare INSERT ... SELECT of the same rows in the same run, and
against the naive per-loan ORM loop."""

from __future__ import annotations

import statistics
import time
from datetime import timedelta

from django.db import connection, transaction

from devtools.bench.registry import BenchGroup, Figure, register_bench
from devtools.synthetic.loans import seed_synthetic
from financing import clock
from loans import daycount
from loans.accrual import accruals_book_through
from loans.models import Accrual, AccrualRun, Loan, LoanBalance, LoanTerms

NAIVE_SAMPLE = 2000
CATCH_UP_LOANS = 10_000
CATCH_UP_DAYS = 30
TARGET_RATIO = 2  # engine time / the bare INSERT ... SELECT's, day and catch-up alike


class _Rollback(Exception):
    pass


def _timed_rollback(fn) -> float:
    """Time fn() inside a transaction that is then rolled back (the bench leaves no trace)."""
    elapsed = 0.0
    try:
        with transaction.atomic():
            t0 = time.perf_counter()
            fn()
            elapsed = time.perf_counter() - t0
            raise _Rollback
    except _Rollback:
        pass
    return elapsed


def _naive_loop(loan_ids, day, run) -> None:
    """What a per-loan ORM job would do: read the loan and its terms, compute, insert, update."""
    for loan_id in loan_ids:
        loan = Loan.objects.get(pk=loan_id)
        terms = (
            LoanTerms.objects.filter(loan=loan, valid_from__lte=day).order_by("-valid_from").first()
        )
        amount = daycount.daily_accrual(terms.principal, terms.rate, loan.day_count, day)
        Accrual.objects.create(
            loan=loan,
            date=day,
            kind="accrual",
            seq=0,
            principal=terms.principal,
            rate=terms.rate,
            day_count_fraction=daycount.round_half_even(daycount.day_fraction(loan.day_count, day)),
            amount=amount,
            run=run,
            created_at=run.started_at,
        )
        balance = LoanBalance.objects.get(loan=loan)
        balance.rolled_up_total += amount
        balance.rolled_up_through = day
        balance.save(update_fields=["rolled_up_total", "rolled_up_through"])


def _bare_insert_seconds(run_id: int) -> float:
    """The baseline: a bare INSERT ... SELECT of the rows `run_id` booked, into a table like the
    ledger (same columns, defaults, indexes and constraints), timed from the statement to its
    commit, as the engine's run is."""
    cols = ", ".join(f.column for f in Accrual._meta.concrete_fields if f.column != "id")
    with connection.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS bench_accrual_src, bench_accrual_bare")
        cur.execute(
            "CREATE UNLOGGED TABLE bench_accrual_src AS SELECT * FROM loans_accrual "
            "WHERE run_id = %s",
            [run_id],
        )
        cur.execute("CREATE TABLE bench_accrual_bare (LIKE loans_accrual INCLUDING ALL)")
        cur.execute("VACUUM ANALYZE bench_accrual_src")
    t0 = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cur:
        cur.execute(f"INSERT INTO bench_accrual_bare ({cols}) SELECT {cols} FROM bench_accrual_src")
    seconds = time.perf_counter() - t0
    with connection.cursor() as cur:
        cur.execute("DROP TABLE bench_accrual_src, bench_accrual_bare")
    return seconds


def run(*, scale: int, out) -> list[Figure]:
    now = clock.now()
    day = clock.yesterday(now)
    figures: list[Figure] = []

    days = 3  # one-day runs measured, each beside its own baseline; the median is reported
    t0 = time.perf_counter()
    lo, hi = seed_synthetic(loans=scale, start=day - timedelta(days=days), spread_days=0)
    out(f"seeded {scale:,} active loans in {time.perf_counter() - t0:.1f}s")
    with connection.cursor() as cur:
        cur.execute("VACUUM ANALYZE loans_loan, loans_loanbalance, loans_loanterms")
    # The book's first day: every loan is new, so the run catches each up on its own.
    t0 = time.perf_counter()
    first_run = accruals_book_through(through=day - timedelta(days=days), now=now, trigger="bench")
    out(
        f"first run (whole book new, caught up loan by loan): {first_run.rows_booked:,} rows "
        f"in {time.perf_counter() - t0:.3f}s"
    )
    with connection.cursor() as cur:
        cur.execute("VACUUM ANALYZE loans_accrual, loans_loanbalance")

    # 1. One day for the whole book, timed from the call to its commit, each day beside its
    # baseline: a bare INSERT ... SELECT of the same rows, committed, in this same run.
    samples = []
    for k in range(days - 1, -1, -1):
        t0 = time.perf_counter()
        run_ = accruals_book_through(through=day - timedelta(days=k), now=now, trigger="bench")
        engine_s = time.perf_counter() - t0
        bare_s = _bare_insert_seconds(run_.pk)
        out(
            f"day {run_.through}: engine {run_.rows_booked:,} rows in {engine_s:.3f}s "
            f"({run_.loans_rolled_up:,} balances rolled up; steps {run_.steps}); "
            f"bare INSERT ... SELECT {bare_s:.3f}s (both commit included)"
        )
        samples.append((engine_s, bare_s, run_))
    engine_s = statistics.median(e for e, _b, _r in samples)
    bare_s = statistics.median(b for _e, b, _r in samples)
    ratio = statistics.median(e / b for e, b, _r in samples)
    run_ = samples[-1][2]
    rate = run_.loans_accrued / engine_s
    figures.append(
        Figure(
            name=f"daily accrual, {run_.loans_accrued:,} active loans, one day: time vs a bare "
            f"INSERT ... SELECT of the same rows (median of {days})",
            value=ratio,
            unit="x",
            target=f"<= {TARGET_RATIO}x",
            ok=ratio <= TARGET_RATIO,
            beside=f"{engine_s:.3f} s vs {bare_s:.3f} s",
            detail={
                "engine_seconds": [round(e, 3) for e, _b, _r in samples],
                "bare_seconds": [round(b, 3) for _e, b, _r in samples],
                "rows": run_.rows_booked,
                "balances_rolled_up": run_.loans_rolled_up,
                "steps": run_.steps,
            },
        )
    )
    figures.append(
        Figure(
            name="  ... loans accrued per second",
            value=rate,
            unit="loans/s",
            target=">= 50,000 loans/s",
            ok=rate >= 50_000,
            beside=f"{run_.loans_accrued:,} loans in {engine_s:.3f} s",
        )
    )

    # 2. The naive per-loan ORM loop, on a sample, for the same day (rolled back).
    sample = list(range(lo, lo + min(NAIVE_SAMPLE, hi - lo + 1)))

    def naive():
        Accrual.objects.filter(loan_id__in=sample, date=day).delete()
        _naive_loop(sample, day, run_)

    naive_s = _timed_rollback(naive)
    naive_rate = len(sample) / naive_s
    figures.append(
        Figure(
            name=f"  ... naive per-loan ORM loop ({len(sample):,}-loan sample): time per loan "
            "vs the engine's",
            value=rate / naive_rate,
            unit="x",
            beside=f"{naive_rate:,.0f} vs {rate:,.0f} loans/s",
            detail={"naive_seconds": round(naive_s, 3), "naive_loans_per_s": naive_rate},
        )
    )

    # 3. Catch-up: 10k loans that missed 30 days, beside a bare INSERT ... SELECT of its rows.
    start = day - timedelta(days=CATCH_UP_DAYS - 1)
    seed_synthetic(loans=CATCH_UP_LOANS, start=start, spread_days=0, seed=0.17)
    with connection.cursor() as cur:
        cur.execute("ANALYZE loans_loanbalance, loans_loanterms")
    t0 = time.perf_counter()
    run_ = accruals_book_through(through=day, now=now, trigger="bench")
    catch_s = time.perf_counter() - t0
    bare_s = _bare_insert_seconds(run_.pk)
    ratio = catch_s / bare_s
    out(
        f"catch-up: {run_.rows_booked:,} rows for {run_.loans_accrued:,} loans in {catch_s:.3f}s;"
        f" bare INSERT ... SELECT {bare_s:.3f}s"
    )
    complete = run_.rows_booked == CATCH_UP_LOANS * CATCH_UP_DAYS
    figures.append(
        Figure(
            name=f"accrual catch-up, {run_.loans_caught_up:,} loans x {CATCH_UP_DAYS} missed days: "
            f"time vs a bare INSERT ... SELECT of its {run_.rows_booked:,} rows",
            value=ratio,
            unit="x",
            target=f"<= {TARGET_RATIO}x",
            ok=ratio <= TARGET_RATIO and complete,
            beside=f"{catch_s:.3f} s vs {bare_s:.3f} s",
            detail={"rows": run_.rows_booked, "complete": complete},
        )
    )
    assert AccrualRun.objects.count() == days + 2
    return figures


register_bench(BenchGroup(name="accrual", order=10, run=run))
