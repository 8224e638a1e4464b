"""The accrual engine: whole-book, set-based, idempotent, restating.

`accruals_book_through(through=, now=)` books every missing accrual day up to `through` for
every loan on the book in one INSERT ... SELECT, and books adjusting rows for loans whose rate
or principal changed back-dated. Safe to run twice or concurrently:

* (loan, date, kind, seq) is unique, and inserts are ON CONFLICT DO NOTHING;
* the run holds the transaction-level advisory lock `loans.accrual`, which the services that
  change a loan's rate or principal also take, so a run never sees half a change;
* running totals (LoanBalance) move by what the statement actually inserted (RETURNING).

Each day's amount is principal_eod(D) x rate(D) x DCF(D, D+1), computed exactly in NUMERIC and
rounded once to 18 places half-even (PostgreSQL's round() is half away from zero, so the rounding
is done by integer division and remainder). loans/daycount.py states the same rule in Python.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.db import connection, transaction

from financing.jobs.services import xact_advisory_lock
from loans.models import AccrualRun, LoanStatus

ACCRUAL_LOCK = "loans.accrual"

#: Loans never on the book: nothing accrues for them.
_NOT_BOOKED = (LoanStatus.DRAFT, LoanStatus.PENDING_APPROVAL, LoanStatus.REJECTED)

# DCF(D, D+1) as numerator / denominator, per convention, for a day column `{d}`.
_NUM = """CASE {dc}
    WHEN '30E/360' THEN 360 * (EXTRACT(YEAR FROM {d} + 1) - EXTRACT(YEAR FROM {d}))
                        + 30 * (EXTRACT(MONTH FROM {d} + 1) - EXTRACT(MONTH FROM {d}))
                        + LEAST(EXTRACT(DAY FROM {d} + 1), 30) - LEAST(EXTRACT(DAY FROM {d}), 30)
    ELSE 1 END"""
_DEN = """CASE {dc}
    WHEN 'ACT/365F' THEN 365
    WHEN 'ACT/360' THEN 360
    WHEN '30E/360' THEN 360
    ELSE ((date_trunc('year', {d}) + interval '1 year')::date - date_trunc('year', {d})::date)
    END"""


def _half_even(n: str, den: str) -> str:
    """SQL for round_half_even(n / den, 18) with n >= 0 and den > 0, exactly."""
    scaled = f"(({n}) * 1000000000000000000::numeric)"
    q = f"div({scaled}, ({den}))"
    r = f"mod({scaled}, ({den}))"
    return (
        f"(({q} + CASE WHEN 2 * {r} > ({den}) OR (2 * {r} = ({den}) AND mod({q}, 2) = 1) "
        f"THEN 1 ELSE 0 END) * 0.000000000000000001::numeric)"
    )


# Every day to book: per loan in scope, the days after what it has accrued, up to `through`
# and before its end date, priced from the loan's terms in force that day.
_BOOK_SQL = f"""
WITH scope AS (
    SELECT l.id AS loan_id, l.day_count,
           GREATEST(l.start_date, COALESCE(b.accrued_through + 1, l.start_date)) AS first_day,
           LEAST(%(through)s::date, COALESCE(l.end_date - 1, %(through)s::date)) AS last_day
    FROM loans_loan l
    JOIN loans_loanbalance b ON b.loan_id = l.id
    WHERE l.status <> ALL(%(not_booked)s)
      AND (b.accrued_through IS NULL
           OR b.accrued_through < LEAST(%(through)s::date, COALESCE(l.end_date - 1, %(through)s::date)))
),
days AS (
    SELECT s.loan_id, s.day_count, (s.first_day + g)::date AS day
    FROM scope s
    CROSS JOIN LATERAL generate_series(0, s.last_day - s.first_day) AS g
),
priced AS (
    SELECT d.loan_id, d.day, t.principal, t.rate,
           {_NUM.format(dc="d.day_count", d="d.day")} AS num,
           {_DEN.format(dc="d.day_count", d="d.day")} AS den
    FROM days d
    JOIN loans_loanterms t ON t.loan_id = d.loan_id
     AND t.valid_from <= d.day AND (t.valid_to IS NULL OR d.day < t.valid_to)
),
ins AS (
    INSERT INTO loans_accrual
        (loan_id, date, kind, seq, principal, rate, day_count_fraction, amount, cause,
         run_id, created_at)
    SELECT p.loan_id, p.day, 'accrual', 0, p.principal, p.rate,
           {_half_even("p.num", "p.den")},
           {_half_even("p.principal * p.rate * p.num", "p.den")},
           '', %(run)s, %(now)s
    FROM priced p
    ORDER BY p.day, p.loan_id
    ON CONFLICT (loan_id, date, kind, seq) DO NOTHING
    RETURNING loan_id, date, amount
),
agg AS (
    SELECT loan_id, SUM(amount) AS total FROM ins GROUP BY loan_id
),
upd AS (
    UPDATE loans_loanbalance b
       SET accrued_total = b.accrued_total + COALESCE(agg.total, 0),
           accrued_through = GREATEST(COALESCE(b.accrued_through, s.last_day), s.last_day)
      FROM scope s LEFT JOIN agg ON agg.loan_id = s.loan_id
     WHERE b.loan_id = s.loan_id
    RETURNING 1
)
SELECT (SELECT COUNT(*) FROM ins),
       (SELECT COUNT(DISTINCT loan_id) FROM ins),
       (SELECT COALESCE(SUM(amount), 0) FROM ins),
       (SELECT MIN(date) FROM ins),
       (SELECT MAX(date) FROM ins),
       (SELECT COUNT(DISTINCT date) FROM ins),
       (SELECT COUNT(*) FROM upd)
"""

# Restatement: for loans marked with restate_from, every booked day from then on is compared
# with what the daily accrual would book now (the current schedules); the difference is booked
# as an adjustment naming the cause. Booked rows are never edited or deleted.
_RESTATE_SQL = f"""
WITH marked AS (
    SELECT l.id AS loan_id, l.day_count, l.start_date, l.end_date,
           b.restate_from, b.accrued_through, b.restate_cause
    FROM loans_loanbalance b
    JOIN loans_loan l ON l.id = b.loan_id
    WHERE b.restate_from IS NOT NULL AND b.accrued_through IS NOT NULL
      AND b.restate_from <= b.accrued_through
),
days AS (
    SELECT m.loan_id, m.day_count, m.restate_cause, (m.restate_from + g)::date AS day,
           ((m.restate_from + g) >= m.start_date
            AND (m.end_date IS NULL OR (m.restate_from + g) < m.end_date)) AS accrues
    FROM marked m
    CROSS JOIN LATERAL generate_series(0, m.accrued_through - m.restate_from) AS g
),
expected AS (
    SELECT d.loan_id, d.day, d.restate_cause,
           CASE WHEN d.accrues AND t.loan_id IS NOT NULL THEN t.principal ELSE 0 END AS principal,
           CASE WHEN d.accrues AND t.loan_id IS NOT NULL THEN t.rate ELSE 0 END AS rate,
           CASE WHEN d.accrues THEN {_half_even(_NUM.format(dc="d.day_count", d="d.day"), _DEN.format(dc="d.day_count", d="d.day"))}
                ELSE 0 END AS dcf,
           CASE WHEN d.accrues AND t.loan_id IS NOT NULL THEN
                {_half_even("t.principal * t.rate * " + _NUM.format(dc="d.day_count", d="d.day"), _DEN.format(dc="d.day_count", d="d.day"))}
                ELSE 0 END AS amount
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
    ORDER BY day, loan_id
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
SELECT (SELECT COUNT(*) FROM ins),
       (SELECT COUNT(DISTINCT loan_id) FROM ins),
       (SELECT COALESCE(SUM(amount), 0) FROM ins),
       (SELECT COUNT(*) FROM upd)
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


@dataclass
class AccrualResult:
    run: AccrualRun

    def counts(self) -> dict:
        r = self.run
        return {
            "through": r.through.isoformat(),
            "rows_booked": r.rows_booked,
            "loans_accrued": r.loans_accrued,
            "days_booked": r.days_booked,
            "adjustments_booked": r.adjustments_booked,
            "loans_restated": r.loans_restated,
        }


def accruals_book_through(*, through: date, now: datetime, trigger: str = "manual") -> AccrualRun:
    """Book every missing accrual day up to and including `through`, restating back-dated
    changes first. Idempotent; concurrent runs serialise on the advisory lock."""
    if through >= now.date():
        # The business day `through` must be over before it accrues (principal at end of day).
        raise ValueError(f"cannot accrue through {through}: that business day is not over")
    started = time.perf_counter()
    with transaction.atomic(), xact_advisory_lock(ACCRUAL_LOCK):
        run = AccrualRun.objects.create(through=through, started_at=now, trigger=trigger)
        params = {
            "run": run.pk,
            "now": now,
            "through": through,
            "not_booked": [str(s) for s in _NOT_BOOKED],
        }
        with connection.cursor() as cur:
            cur.execute(_RESTATE_SQL, params)
            adj_rows, adj_loans, adj_amount, _marked = cur.fetchone()
            cur.execute(_CLEAR_EMPTY_MARKS_SQL)
            cur.execute(_BOOK_SQL, params)
            rows, loans, amount, first, last, ndays, _scoped = cur.fetchone()
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
