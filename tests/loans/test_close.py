"""Closing a loan reads each of its accrual figures once."""

from __future__ import annotations

from collections import Counter
from datetime import date
from decimal import Decimal

from django.db import connection
from django.test.utils import CaptureQueriesContext

from loans import services
from loans.accrual import accruals_book_through


def test_loan_close_runs_each_accrual_query_once(book, maker, now):
    loan = book(principal=Decimal("10"))
    services.loan_repay(
        actor=maker, loan=loan, amount=Decimal("10"), on=date(2026, 11, 11), now=now
    )
    accruals_book_through(through=date(2026, 11, 20), now=now)
    services.loan_interest_settle(actor=maker, loan=loan, on=date(2026, 11, 11), now=now)
    with CaptureQueriesContext(connection) as ctx:
        closed = services.loan_close(actor=maker, loan=loan, now=now)
    assert closed.status == "closed"
    accrual_reads = Counter(
        q["sql"]
        for q in ctx.captured_queries
        if q["sql"].startswith("SELECT") and '"loans_accrual"' in q["sql"]
    )
    assert accrual_reads and all(n == 1 for n in accrual_reads.values()), accrual_reads
