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
_COLUMNS = (
    "(loan_id, date, kind, seq, principal, rate, day_count_fraction, amount, cause, run_id, "
    "created_at)"
)

# The book's watermark W: the last day that every loan not flagged catch_up is booked through.
_WATERMARK_SQL = (
    "SELECT MAX(through) FROM loans_accrualrun WHERE finished_at IS NOT NULL AND id <> %(run)s"
)

# Loans whose terms changed since the last run (new on the book, re-priced, repaid...) may miss
# days up to W: book them one by one from their own last booked day. A handful a day.
_CATCH_UP_SQL = f"""
WITH ins AS (
INSERT INTO loans_accrual {_COLUMNS}
SELECT t.loan_id, x.day, 'accrual', 0, t.principal, t.rate, {_DCF}, {_AMOUNT}, '', %(run)s, %(now)s
FROM loans_loanbalance b
JOIN loans_loanterms t ON t.loan_id = b.loan_id
LEFT JOIN LATERAL (
    SELECT a.date FROM loans_accrual a WHERE a.loan_id = b.loan_id ORDER BY a.date DESC LIMIT 1
) last ON true
CROSS JOIN LATERAL (
    SELECT d::date AS day
    FROM generate_series(
        GREATEST(t.valid_from, COALESCE(last.date + 1, t.valid_from)),
        LEAST(COALESCE(t.valid_to - 1, %(upto)s::date), %(upto)s::date),
        interval '1 day') AS d
) x
WHERE b.catch_up AND t.valid_from <= %(upto)s::date
ORDER BY x.day, t.loan_id
ON CONFLICT (loan_id, date, kind, seq) DO NOTHING
RETURNING loan_id, date
)
SELECT loan_id, COUNT(*), MIN(date), MAX(date) FROM ins GROUP BY loan_id
"""

# The whole book, every day after W up to `through`: a plain INSERT ... SELECT of the terms in
# force each day. No per-loan state is read or written. No ON CONFLICT either: by construction
# (runs serialise on the lock, W only moves forward) none of these rows exists yet, and if one
# ever did the unique constraint fails the whole run, which rolls back and books nothing.
_BOOK_SQL = f"""
INSERT INTO loans_accrual {_COLUMNS}
SELECT t.loan_id, x.day, 'accrual', 0, t.principal, t.rate, {_DCF}, {_AMOUNT}, '', %(run)s, %(now)s
FROM (
    SELECT d::date AS day
    FROM generate_series(%(first)s::date, %(through)s::date, interval '1 day') AS d
) x
JOIN loans_loanterms t ON x.day >= t.valid_from AND (t.valid_to IS NULL OR x.day < t.valid_to)
WHERE t.valid_from <= %(through)s::date AND (t.valid_to IS NULL OR t.valid_to > %(first)s::date)
"""

_LOANS_IN_RUN_SQL = """
SELECT COUNT(DISTINCT t.loan_id) FROM loans_loanterms t
WHERE t.valid_from <= %(through)s::date AND (t.valid_to IS NULL OR t.valid_to > %(first)s::date)
"""
_CAUGHT_UP_ALSO_IN_RUN_SQL = """
SELECT COUNT(DISTINCT t.loan_id) FROM loans_loanterms t
WHERE t.loan_id = ANY(%(ids)s)
  AND t.valid_from <= %(through)s::date AND (t.valid_to IS NULL OR t.valid_to > %(first)s::date)
"""

# Running totals: each loan rolls its new daily rows into its balance once a week, on its own
# weekday slot (so a seventh of the book a day), or when it is more than a week behind.
ROLL_UP_DAYS = 7
_ROLL_UP_SQL = f"""
UPDATE loans_loanbalance b
   SET rolled_up_total = b.rolled_up_total + COALESCE((
           SELECT SUM(a.amount) FROM loans_accrual a
            WHERE a.loan_id = b.loan_id AND a.kind = 'accrual'
              AND a.date > b.rolled_up_through AND a.date <= %(through)s::date), 0),
       rolled_up_through = %(through)s::date
 WHERE b.rolled_up_through < %(through)s::date
   AND (b.rolled_up_through < %(through)s::date - {ROLL_UP_DAYS}
        OR (b.loan_id + (%(through)s::date - date '2000-01-01')) %% {ROLL_UP_DAYS} = 0)
"""

_R_AMOUNT, _R_DCF = _pick("t", "d.day")

# Restatement: for loans marked with restate_from, every booked day from then on is compared
# with what the daily accrual would book now (the current terms); the difference is booked as
# an adjustment naming the cause. Booked rows are never edited or deleted. Adjustments go
# straight into the balance's rolled-up total.
_RESTATE_SQL = f"""
WITH marked AS (
    SELECT b.loan_id, b.restate_from, last.date AS accrued_through, b.restate_cause
    FROM loans_loanbalance b
    CROSS JOIN LATERAL (
        SELECT a.date FROM loans_accrual a WHERE a.loan_id = b.loan_id
        ORDER BY a.date DESC LIMIT 1
    ) last
    WHERE b.restate_from IS NOT NULL AND b.restate_from <= last.date
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
    INSERT INTO loans_accrual {_COLUMNS}
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
       SET rolled_up_total = b.rolled_up_total + COALESCE(agg.total, 0),
           restate_from = NULL, restate_cause = ''
      FROM marked m LEFT JOIN agg ON agg.loan_id = m.loan_id
     WHERE b.loan_id = m.loan_id
    RETURNING 1
)
SELECT COUNT(*), COUNT(DISTINCT loan_id), (SELECT COUNT(*) FROM upd) FROM ins
"""

# Marks on days not accrued yet restate nothing: clear them.
_CLEAR_EMPTY_MARKS_SQL = """
UPDATE loans_loanbalance b SET restate_from = NULL, restate_cause = ''
 WHERE b.restate_from IS NOT NULL
   AND NOT EXISTS (SELECT 1 FROM loans_accrual a
                    WHERE a.loan_id = b.loan_id AND a.date >= b.restate_from)
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


class _TimedCursor:
    """Records how long each statement of a run takes (AccrualRun.steps), by its label."""

    LABELS = {
        id(_RESTATE_SQL): "restate",
        id(_CLEAR_EMPTY_MARKS_SQL): "clear_marks",
        id(_WATERMARK_SQL): "watermark",
        id(_CATCH_UP_SQL): "catch_up",
        id(_BOOK_SQL): "book",
        id(_LOANS_IN_RUN_SQL): "count_loans",
        id(_CAUGHT_UP_ALSO_IN_RUN_SQL): "count_loans",
        id(_ROLL_UP_SQL): "roll_up",
        id(_REFRESH_CURRENT_SQL): "refresh_rates",
    }

    def __init__(self, cursor, steps: dict[str, float]):
        self._cursor = cursor
        self._steps = steps

    def execute(self, sql, params=None):
        label = self.LABELS.get(id(sql), "other")
        started = time.perf_counter()
        try:
            return self._cursor.execute(sql, params)
        finally:
            self._steps[label] = self._steps.get(label, 0.0) + time.perf_counter() - started

    def __getattr__(self, name):
        return getattr(self._cursor, name)


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
        steps: dict[str, float] = {}
        with connection.cursor() as raw:
            cur = _TimedCursor(raw, steps)
            # The plans are simple and their cost estimates large: JIT would only add seconds.
            cur.execute("SET LOCAL jit = off")
            cur.execute("SET LOCAL work_mem = '128MB'")
            cur.execute(_RESTATE_SQL, params)
            run.adjustments_booked, run.loans_restated, _marked = cur.fetchone()
            cur.execute(_CLEAR_EMPTY_MARKS_SQL)
            cur.execute(_WATERMARK_SQL, params)
            watermark = cur.fetchone()[0]
            if watermark is None:
                # The first run ever: the whole book catches up, loan by loan.
                cur.execute("UPDATE loans_loanbalance SET catch_up = true WHERE NOT catch_up")
            cur.execute("SELECT COUNT(*) FROM loans_loanbalance WHERE catch_up")
            run.loans_caught_up = cur.fetchone()[0]
            upto = through if watermark is None else min(watermark, through)
            cur.execute(_CATCH_UP_SQL, {**params, "upto": upto})
            caught_rows = cur.fetchall()
            caught = {loan_id: n for loan_id, n, _lo, _hi in caught_rows}
            caught_up = sum(caught.values())
            run.loans_accrued = len(caught)
            if caught_rows:
                run.first_day = min(lo for *_x, lo, _hi in caught_rows)
                run.last_day = max(hi for *_x, hi in caught_rows)
            if watermark is None or through >= watermark:
                cur.execute("UPDATE loans_loanbalance SET catch_up = false WHERE catch_up")
            first = None
            if watermark is not None and through > watermark:
                first = watermark + timedelta(days=1)
            booked = 0
            if first is not None and first <= through:
                cur.execute(_BOOK_SQL, {**params, "first": first})
                booked = cur.rowcount
                if first == through:
                    in_run = booked  # one day: one row per loan (segments never overlap)
                else:
                    cur.execute(_LOANS_IN_RUN_SQL, {**params, "first": first})
                    in_run = cur.fetchone()[0]
                also = 0
                if caught:
                    cur.execute(
                        _CAUGHT_UP_ALSO_IN_RUN_SQL,
                        {**params, "first": first, "ids": list(caught)},
                    )
                    also = cur.fetchone()[0]
                run.loans_accrued = in_run + len(caught) - also
                run.first_day = min(first, run.first_day or first)
                run.last_day = through
            cur.execute(_ROLL_UP_SQL, params)
            run.loans_rolled_up = cur.rowcount
            cur.execute(
                _REFRESH_CURRENT_SQL,
                {
                    "today": now.date(),
                    "since": watermark or now.date() - timedelta(days=400),
                },
            )
        run.rows_booked = booked + caught_up
        if run.first_day and run.last_day:
            run.days_booked = (run.last_day - run.first_day).days + 1
        run.steps = {k: round(v, 3) for k, v in steps.items()}
        run.finished_at = now
        run.seconds = Decimal(f"{time.perf_counter() - started:.3f}")
        run.save()
    return run
