"""The accrual engine: whole-book, set-based, idempotent, restating.

`accruals_book_through(through=, now=)` books every missing accrual day up to `through` for
every loan on the book in one INSERT ... SELECT, and books adjusting rows for loans whose rate
or principal changed back-dated. Safe to run twice or concurrently:

* (loan, date, kind, seq) is unique, and inserts are ON CONFLICT DO NOTHING;
* the run holds the transaction-level advisory lock `loans.accrual`, which the services that
  change a loan's rate or principal also take, so a run never sees half a change;
* running totals (LoanBalance) move by what the statement actually inserted (RETURNING).

Each day's amount is principal_eod(D) x rate(D) x DCF(D, D+1), computed exactly and rounded
once to 18 places half-even. A convention yields only a few distinct fractions (1/365, 1/360,
1/366, 2/360, 3/360, or nothing on a 31st under 30E/360), so each terms segment carries its
rounded amount for each (LoanTerms.daily_amount*), computed once when the segment is built;
the daily run picks the right one per day. loans/daycount.py states the rule in Python.
"""

from __future__ import annotations

import time
from datetime import date, datetime, timedelta
from decimal import Decimal
from fractions import Fraction

from django.db import connection, transaction

from financing.jobs.services import xact_advisory_lock
from loans import daycount
from loans.models import AccrualRun

ACCRUAL_LOCK = "loans.accrual"


def half_even_sql(n: str, den: str) -> str:
    """SQL for round_half_even(n / den, 18) with n >= 0 and den > 0, exactly (PostgreSQL's
    round() rounds half away from zero, so this uses integer division and the remainder)."""
    scaled = f"(({n}) * 1000000000000000000::numeric)"
    q = f"div({scaled}, ({den}))"
    r = f"mod({scaled}, ({den}))"
    return (
        f"(({q} + CASE WHEN 2 * {r} > ({den}) OR (2 * {r} = ({den}) AND mod({q}, 2) = 1) "
        f"THEN 1 ELSE 0 END) * 0.000000000000000001::numeric)"
    )


def segment_amounts_sql(principal: str, rate: str, day_count: str) -> dict[str, str]:
    """SQL for LoanTerms.daily_amount* (the set-based twin of daycount.segment_amounts)."""
    pr = f"({principal}) * ({rate})"
    base = f"(CASE WHEN {day_count} IN ('ACT/360', '30E/360') THEN 360 ELSE 365 END)"
    leap = f"(CASE {day_count} WHEN 'ACT/ACT-ISDA' THEN 366 WHEN 'ACT/365F' THEN 365 ELSE 360 END)"
    return {
        "daily_amount": half_even_sql(pr, base),
        "daily_amount_leap": half_even_sql(pr, leap),
        "daily_amount_2": half_even_sql(f"{pr} * 2", "360"),
        "daily_amount_3": half_even_sql(f"{pr} * 3", "360"),
    }


def _fraction(num: int, den: int) -> str:
    return f"{daycount.round_half_even(Fraction(num, den))}::numeric"


# Which of a segment's amounts (and which fraction) day {d} takes. 30E/360: 1/360 on most days;
# the 30th of a 31-day month accrues nothing (the 31st counts as the 30th), the last day of a
# month accrues the days from min(day, 30) to the 30th plus one: 3/360 on 28 February of a
# common year, 2/360 on 29 February. ACT/ACT-ISDA: 1/366 in a leap year.
_LEAP = (
    "(EXTRACT(YEAR FROM {d})::int %% 4 = 0 AND (EXTRACT(YEAR FROM {d})::int %% 100 <> 0 "
    "OR EXTRACT(YEAR FROM {d})::int %% 400 = 0))"
)
_DAYS_30E = """(CASE WHEN EXTRACT(DAY FROM {d} + 1) = 1 THEN 31 - LEAST(EXTRACT(DAY FROM {d}), 30)
              WHEN EXTRACT(DAY FROM {d}) = 30 THEN 0
              ELSE 1 END)"""


def _pick(t: str, d: str) -> tuple[str, str]:
    """(amount, day_count_fraction) SQL for terms alias `t` on day column `d`."""
    leap = _LEAP.format(d=d)
    days = _DAYS_30E.format(d=d)
    amount = f"""CASE {t}.day_count
        WHEN 'ACT/ACT-ISDA' THEN CASE WHEN {leap} THEN {t}.daily_amount_leap
                                 ELSE {t}.daily_amount END
        WHEN '30E/360' THEN CASE {days} WHEN 1 THEN {t}.daily_amount WHEN 0 THEN 0
                                        WHEN 2 THEN {t}.daily_amount_2
                                        ELSE {t}.daily_amount_3 END
        ELSE {t}.daily_amount END"""
    dcf = f"""CASE {t}.day_count
        WHEN 'ACT/365F' THEN {_fraction(1, 365)}
        WHEN 'ACT/360' THEN {_fraction(1, 360)}
        WHEN 'ACT/ACT-ISDA' THEN CASE WHEN {leap} THEN {_fraction(1, 366)}
                                 ELSE {_fraction(1, 365)} END
        ELSE CASE {days} WHEN 1 THEN {_fraction(1, 360)} WHEN 0 THEN 0
                         WHEN 2 THEN {_fraction(2, 360)} ELSE {_fraction(3, 360)} END
        END"""
    return amount, dcf


_AMOUNT, _DCF = _pick("t", "x.day")

# The first day any loan still needs (bounds the day series of _BOOK_SQL).
_FIRST_DAY_SQL = """
SELECT MIN(GREATEST(t.valid_from, COALESCE(b.accrued_through + 1, t.valid_from)))
FROM loans_loanterms t JOIN loans_loanbalance b ON b.loan_id = t.loan_id
WHERE (b.accrued_through IS NULL OR b.accrued_through < %(through)s::date)
  AND (t.valid_to IS NULL OR t.valid_to > COALESCE(b.accrued_through + 1, t.valid_from))
  AND t.valid_from <= %(through)s::date
"""

# The days to book: every (segment, day) from the segment's start, before its end, after what
# the loan has accrued, up to `through`. Terms exist only for loans on the book.
_BOOK_SQL = f"""
WITH days AS (
    SELECT d::date AS day
    FROM generate_series(%(first)s::date, %(through)s::date, interval '1 day') AS d
),
ins AS (
    INSERT INTO loans_accrual
        (loan_id, date, kind, seq, principal, rate, day_count_fraction, amount, cause,
         run_id, created_at)
    SELECT t.loan_id, x.day, 'accrual', 0, t.principal, t.rate, {_DCF}, {_AMOUNT},
           '', %(run)s, %(now)s
    FROM loans_loanterms t
    JOIN loans_loanbalance b ON b.loan_id = t.loan_id
    JOIN days x ON x.day >= t.valid_from AND (t.valid_to IS NULL OR x.day < t.valid_to)
               AND (b.accrued_through IS NULL OR x.day > b.accrued_through)
    WHERE (b.accrued_through IS NULL OR b.accrued_through < %(through)s::date)
      AND (t.valid_to IS NULL OR t.valid_to > %(first)s::date)
      AND t.valid_from <= %(through)s::date
    ON CONFLICT (loan_id, date, kind, seq) DO NOTHING
    RETURNING loan_id, date, amount
),
agg AS (
    SELECT loan_id, SUM(amount) AS total, MAX(date) AS last_day FROM ins GROUP BY loan_id
),
upd AS (
    UPDATE loans_loanbalance b
       SET accrued_total = b.accrued_total + agg.total,
           accrued_through = GREATEST(COALESCE(b.accrued_through, agg.last_day), agg.last_day)
      FROM agg
     WHERE b.loan_id = agg.loan_id
    RETURNING 1
)
SELECT COUNT(*), COUNT(DISTINCT loan_id), COALESCE(SUM(amount), 0), MIN(date), MAX(date),
       COUNT(DISTINCT date), (SELECT COUNT(*) FROM upd)
FROM ins
"""

_R_AMOUNT, _R_DCF = _pick("t", "d.day")

# Restatement: for loans marked with restate_from, every booked day from then on is compared
# with what the daily accrual would book now (the current terms); the difference is booked as
# an adjustment naming the cause. Booked rows are never edited or deleted.
_RESTATE_SQL = f"""
WITH marked AS (
    SELECT b.loan_id, b.restate_from, b.accrued_through, b.restate_cause
    FROM loans_loanbalance b
    WHERE b.restate_from IS NOT NULL AND b.accrued_through IS NOT NULL
      AND b.restate_from <= b.accrued_through
),
days AS (
    SELECT m.loan_id, m.restate_cause, (m.restate_from + g)::date AS day
    FROM marked m
    CROSS JOIN LATERAL generate_series(0, m.accrued_through - m.restate_from) AS g
),
expected AS (
    SELECT d.loan_id, d.day, d.restate_cause,
           COALESCE(t.principal, 0) AS principal,
           COALESCE(t.rate, 0) AS rate,
           CASE WHEN t.loan_id IS NULL THEN 0 ELSE {_R_DCF} END AS dcf,
           CASE WHEN t.loan_id IS NULL THEN 0 ELSE {_R_AMOUNT} END AS amount
    FROM days d
    LEFT JOIN loans_loanterms t ON t.loan_id = d.loan_id
     AND t.valid_from <= d.day AND (t.valid_to IS NULL OR d.day < t.valid_to)
),
booked AS (
    SELECT a.loan_id, a.date AS day, SUM(a.amount) AS amount,
           MAX(CASE WHEN a.kind = 'adjustment' THEN a.seq ELSE 0 END) AS last_seq
    FROM loans_accrual a
    JOIN marked m ON m.loan_id = a.loan_id AND a.date >= m.restate_from
                 AND a.date <= m.accrued_through
    GROUP BY a.loan_id, a.date
),
deltas AS (
    SELECT e.loan_id, e.day, e.restate_cause, e.principal, e.rate, e.dcf,
           e.amount - COALESCE(b.amount, 0) AS delta,
           COALESCE(b.last_seq, 0) + 1 AS seq
    FROM expected e
    LEFT JOIN booked b ON b.loan_id = e.loan_id AND b.day = e.day
    WHERE e.amount <> COALESCE(b.amount, 0)
),
ins AS (
    INSERT INTO loans_accrual
        (loan_id, date, kind, seq, principal, rate, day_count_fraction, amount, cause,
         run_id, created_at)
    SELECT loan_id, day, 'adjustment', seq, principal, rate, dcf, delta,
           LEFT(restate_cause, 300), %(run)s, %(now)s
    FROM deltas
    RETURNING loan_id, amount
),
agg AS (
    SELECT loan_id, SUM(amount) AS total FROM ins GROUP BY loan_id
),
upd AS (
    UPDATE loans_loanbalance b
       SET accrued_total = b.accrued_total + COALESCE(agg.total, 0),
           restate_from = NULL, restate_cause = ''
      FROM marked m LEFT JOIN agg ON agg.loan_id = m.loan_id
     WHERE b.loan_id = m.loan_id
    RETURNING 1
)
SELECT COUNT(*), COUNT(DISTINCT loan_id), COALESCE(SUM(amount), 0), (SELECT COUNT(*) FROM upd)
FROM ins
"""

# Marks whose day is past what was accrued restate nothing: clear them.
_CLEAR_EMPTY_MARKS_SQL = """
UPDATE loans_loanbalance SET restate_from = NULL, restate_cause = ''
 WHERE restate_from IS NOT NULL
   AND (accrued_through IS NULL OR restate_from > accrued_through)
"""

# A rate change dated in the future becomes the loan's current rate on its day.
_REFRESH_CURRENT_SQL = """
UPDATE loans_loan l SET rate = t.rate
  FROM loans_loanterms t
 WHERE t.loan_id = l.id AND t.valid_from <= %(today)s
   AND (t.valid_to IS NULL OR %(today)s < t.valid_to)
   AND t.valid_from > %(since)s
   AND l.rate <> t.rate
"""


def accruals_book_through(*, through: date, now: datetime, trigger: str = "manual") -> AccrualRun:
    """Book every missing accrual day up to and including `through`, restating back-dated
    changes first. Idempotent; concurrent runs serialise on the advisory lock."""
    if through >= now.date():
        # The business day `through` must be over before it accrues (principal at end of day).
        raise ValueError(f"cannot accrue through {through}: that business day is not over")
    started = time.perf_counter()
    with transaction.atomic(), xact_advisory_lock(ACCRUAL_LOCK):
        run = AccrualRun.objects.create(through=through, started_at=now, trigger=trigger)
        params = {"run": run.pk, "now": now, "through": through}
        with connection.cursor() as cur:
            # The plans are simple and their cost estimates large: JIT would only add seconds.
            cur.execute("SET LOCAL jit = off")
            cur.execute("SET LOCAL work_mem = '128MB'")
            cur.execute(_RESTATE_SQL, params)
            adj_rows, adj_loans, adj_amount, _marked = cur.fetchone()
            cur.execute(_CLEAR_EMPTY_MARKS_SQL)
            cur.execute(_FIRST_DAY_SQL, params)
            first_needed = cur.fetchone()[0]
            rows, loans, amount, first, last, ndays = 0, 0, Decimal(0), None, None, 0
            if first_needed is not None:
                cur.execute(_BOOK_SQL, {**params, "first": first_needed})
                rows, loans, amount, first, last, ndays, _updated = cur.fetchone()
            cur.execute(
                _REFRESH_CURRENT_SQL,
                {"today": now.date(), "since": now.date() - timedelta(days=400)},
            )
        run.rows_booked = rows
        run.loans_accrued = loans
        run.amount_booked = amount or Decimal(0)
        run.first_day, run.last_day, run.days_booked = first, last, ndays
        run.adjustments_booked = adj_rows
        run.loans_restated = adj_loans
        run.adjustment_amount = adj_amount or Decimal(0)
        run.finished_at = now
        run.seconds = Decimal(f"{time.perf_counter() - started:.3f}")
        run.save()
    return run
