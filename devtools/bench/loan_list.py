"""Benchmark of the API loan list (quality.md): GET /api/loans/ (50 rows, filtered) served as
in production (devtools.bench.server), its p99 on the whole book as a ratio to its p99 on a
1k-loan book, and to the p99 of a bare DRF list of 50 rows of one table (devtools.benchserver.urls),
all three from the same server in the same run; and a query count fixed from page to page.

The 1k-loan book is a second synthetic book in desks of its own, with the big book's mix: the
same filter on one of its desks is the same query, with the same share of the book matching
(a third of it, one desk of three), over a book a hundred times smaller. The three lists are
called in turn, request by request, so the machine's noise falls on all of them alike."""

from __future__ import annotations

import gc
import statistics
from datetime import timedelta

from django.db import connection, reset_queries

from devtools.bench.registry import BenchGroup, Figure, register_bench
from devtools.bench.server import Server, call, p99, settle
from devtools.benchserver.urls import BARE_PATH
from devtools.synthetic.loans import DESKS, seed_synthetic
from financing import clock

SMALL_BOOK = 1000
SMALL_DESKS = ("SYN-1K-A", "SYN-1K-B", "SYN-1K-C")
PAGES = 4
ROUNDS = 300  # calls of each list, timed
WARM_UP = 10
BOOK_RATIO = 1.5  # p99 on the whole book / p99 on the 1k book
BARE_RATIO = 3  # p99 on the whole book / the bare list's p99
LIST = "/api/loans/?status=active&direction=lend&desk={desk}&page={page}"


def _books(scale: int, out) -> int:
    """The whole book at `scale` loans (seeded if an earlier group has not) and the 1k book;
    returns the number of loans on the books."""
    from financing.refdata.models import Desk
    from loans.models import Loan

    start = clock.yesterday() - timedelta(days=3)
    big = Loan.objects.filter(desk__code__in=DESKS).count()
    if big < scale:
        seed_synthetic(loans=scale - big, start=start)
        out(f"seeded {scale - big:,} more active loans")
    if not Desk.objects.filter(code__in=SMALL_DESKS).exists():
        seed_synthetic(loans=SMALL_BOOK, start=start, seed=0.29, desks=SMALL_DESKS)
        out(f"seeded the {SMALL_BOOK:,}-loan book in {', '.join(SMALL_DESKS)}")
    return Loan.objects.count()


def _query_counts(token: str, urls: list[str]) -> set[int]:
    """Queries per request, page by page of both books, through the whole stack in process."""
    from django.test.utils import CaptureQueriesContext
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    reset_queries()  # the bulk seeding filled the debug query log: start the capture empty
    counts = set()
    for url in urls:
        with CaptureQueriesContext(connection) as ctx:
            resp = client.get(url, HTTP_HOST="localhost")
        assert resp.status_code == 200 and len(resp.json()["results"]) == 50, (url, resp)
        counts.add(len(ctx.captured_queries))
    return counts


def run(*, scale: int, out) -> list[Figure]:
    from rest_framework.authtoken.models import Token

    from devtools.synthetic.loans import refdata_ensure
    from financing.accounts.models import User

    on_book = _books(scale, out)
    refdata_ensure(300)  # the bare endpoint's table: six pages of rows
    user, _ = User.objects.get_or_create(username="bench-ops", defaults={"role": "ops"})
    token = Token.objects.get_or_create(user=user)[0].key
    lists = {
        "book": [LIST.format(desk=DESKS[0], page=p) for p in range(1, PAGES + 1)],
        "1k": [LIST.format(desk=SMALL_DESKS[0], page=p) for p in range(1, PAGES + 1)],
        "bare": [f"{BARE_PATH}?page={p}" for p in range(1, PAGES + 1)],
    }
    queries = _query_counts(token, lists["book"] + lists["1k"])
    settle()
    timings: dict[str, list[float]] = {name: [] for name in lists}
    errors: list[str] = []
    with Server() as base:
        for i in range(WARM_UP * PAGES):  # every worker, every page, before the clock starts
            for urls in lists.values():
                call(base, "GET", urls[i % PAGES], token)
        # As the server's workers do after start-up (gunicorn.conf.py): the client's heap (the
        # seeded books, earlier figures) out of the collector's sight during timed calls.
        gc.collect()
        gc.freeze()
        try:
            names = list(lists)
            for i in range(ROUNDS):
                for name in names[i % 3 :] + names[: i % 3]:  # each goes first in turn
                    status, answer, ms = call(base, "GET", lists[name][i % PAGES], token)
                    timings[name].append(ms)
                    if status != 200 or len(answer.get("results", ())) != 50:
                        errors.append(f"{name} {status}")
        finally:
            gc.unfreeze()
    book, small, bare = (p99(timings[name]) for name in ("book", "1k", "bare"))
    medians = {name: statistics.median(t) for name, t in timings.items()}
    out(
        f"loan list p50/p99: {on_book:,}-loan book {medians['book']:.1f}/{book:.1f} ms, "
        f"{SMALL_BOOK:,}-loan book {medians['1k']:.1f}/{small:.1f} ms, bare list "
        f"{medians['bare']:.1f}/{bare:.1f} ms; queries per request {sorted(queries)}"
        + (f"; errors {errors[:5]}" if errors else "")
    )
    detail = {
        "p99_ms": {"book": round(book, 2), "1k": round(small, 2), "bare": round(bare, 2)},
        "p50_ms": {k: round(v, 2) for k, v in medians.items()},
        "loans": on_book,
        "calls_each": ROUNDS,
        "errors": errors[:10],
    }
    return [
        Figure(
            name=f"API loan list (50 rows, filtered): p99 at {on_book:,} loans vs at "
            f"{SMALL_BOOK:,} loans",
            value=book / small,
            unit="x",
            target=f"<= {BOOK_RATIO}x",
            ok=book / small <= BOOK_RATIO and not errors,
            beside=f"{book:.1f} ms vs {small:.1f} ms",
            detail=detail,
        ),
        Figure(
            name="  ... p99 vs a bare DRF list of 50 rows of one table, same server",
            value=book / bare,
            unit="x",
            target=f"<= {BARE_RATIO}x",
            ok=book / bare <= BARE_RATIO and not errors,
            beside=f"{book:.1f} ms vs {bare:.1f} ms",
        ),
        Figure(
            name=f"  ... queries per request, pages 1-{PAGES} of both books",
            value=max(queries),
            unit="queries",
            target="fixed",
            ok=len(queries) == 1,
            beside=f"counts seen {sorted(queries)}",
        ),
    ]


register_bench(BenchGroup(name="loan_list", order=15, run=run))
