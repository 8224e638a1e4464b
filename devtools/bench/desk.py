"""Benchmark of the borrow desk (quality.md): submit + allocate under 20 concurrent clients on
loopback, its p99 as a ratio to the bare endpoint's p99 under the same 20 clients, and zero
over-allocation.

The product is served as in production (devtools.bench.server: gunicorn with 3 sync workers,
persistent database connections) on the bench database; 20 client threads each submit a
request as a trading user over HTTP and allocate it as operations, until the asset's inventory
runs out (later allocations answer 409). Every allocation of the asset queues on the same
inventory row lock: the figure includes that wait. Then the same 20 clients call the bare
endpoint (devtools.benchserver.urls) as many times, on the same server.
"""

from __future__ import annotations

import gc
import random
import statistics
import threading
import time
from datetime import timedelta
from decimal import Decimal

from devtools.bench.registry import BenchGroup, Figure, register_bench
from devtools.bench.server import Server, call, p99, settle
from devtools.benchserver.urls import BARE_PATH
from devtools.synthetic.loans import refdata_ensure
from financing import clock

CLIENTS = 20
ROUNDS = 15
LENDABLE = Decimal("5000")
TARGET_RATIO = 3


def _setup():
    from rest_framework.authtoken.models import Token

    from financing.accounts.models import User
    from financing.refdata.models import Asset, Desk, Venue
    from treasury.models import BalanceSnapshot, TreasuryAccount

    now = clock.now()
    venue, _ = Venue.objects.get_or_create(
        code="BENCH-CUST", defaults={"name": "Bench custodian", "kind": "custodian"}
    )
    ops, _ = User.objects.get_or_create(username="bench-desk-ops", defaults={"role": "ops"})
    # BENCHX is measured; BENCHW only warms the server up, on its own inventory.
    for symbol in ("BENCHW", "BENCHX"):
        asset, _ = Asset.objects.get_or_create(
            symbol=symbol, defaults={"name": f"Bench asset {symbol}", "decimals": 8}
        )
        account, _ = TreasuryAccount.objects.get_or_create(
            venue=venue,
            asset=asset,
            purpose="lendable",
            defaults={"created_by": ops, "created_at": now},
        )
        BalanceSnapshot.objects.create(
            account=account, amount=LENDABLE, as_of=now - timedelta(seconds=1), received_at=now
        )
    asset = Asset.objects.get(symbol="BENCHX")
    desks = [
        Desk.objects.get_or_create(code=f"BENCH-D{k}", defaults={"name": f"Bench {k}"})[0]
        for k in range(3)
    ]
    traders = []
    for k in range(CLIENTS):
        user, _ = User.objects.get_or_create(
            username=f"bench-trader-{k}", defaults={"role": "trading", "desk": desks[k % 3]}
        )
        traders.append(Token.objects.get_or_create(user=user)[0].key)
    refdata_ensure(300)  # the bare endpoint's table: at least a page of rows
    return asset, Token.objects.get_or_create(user=ops)[0].key, traders


def run(*, scale: int, out) -> list[Figure]:
    from loans.desk.models import Allocation
    from loans.desk.selectors import inventory

    asset, ops_token, traders = _setup()
    settle()
    needed_by = (clock.now() + timedelta(days=2)).isoformat()
    latencies: list[float] = []
    bare: list[float] = []
    statuses: dict[str, int] = {}
    errors: list[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(CLIENTS)
    started: list[float] = []

    def pair(base: str, k: int, rnd: random.Random, symbol: str) -> list[tuple[str, int, float]]:
        """One client's round: submit a request as its trader, allocate it as operations."""
        qty = f"{rnd.randint(1, 40)}.{rnd.randint(0, 99999999):08d}"
        s1, body, ms1 = call(
            base,
            "POST",
            "/api/borrow-requests/",
            traders[k],
            {
                "asset": symbol,
                "quantity": qty,
                "max_rate": "0.08",
                "needed_by": needed_by,
                "urgency": rnd.choice(["low", "normal", "high", "critical"]),
                "expected_revenue_usd": str(rnd.randint(0, 500000)),
                "purpose": "bench",
            },
        )
        rows = [("submit", s1, ms1)]
        if s1 == 201:
            path = f"/api/borrow-requests/{body['id']}/allocate/"
            s2, _b, ms2 = call(base, "POST", path, ops_token, {})
            rows.append(("allocate", s2, ms2))
        return rows

    def client(base: str, k: int) -> None:
        # Whatever goes wrong in a client is an error of the figure, never a silently
        # missing sample.
        try:
            timed_rounds(base, k)
        except Exception as exc:
            with lock:
                errors.append(f"client {k}: {exc!r}"[:200])

    def timed_rounds(base: str, k: int) -> None:
        rnd = random.Random(k)  # noqa: S311 - a reproducible load mix, not a secret
        # Warm-up, not timed, on its own asset: every server worker imports its views, opens
        # its database connection and prepares its statements once, as a server has done
        # before it takes traffic; then everyone starts together.
        call(base, "POST", "/api/borrow-requests/", traders[k], {"asset": "NOPE"})
        for _ in range(3):
            pair(base, k, rnd, "BENCHW")
            call(base, "GET", BARE_PATH, traders[k])
        if barrier.wait(timeout=120) == 0:
            started.append(time.perf_counter())
        for _ in range(ROUNDS):
            rows = pair(base, k, rnd, "BENCHX")
            with lock:
                for name, status, ms in rows:
                    latencies.append(ms)
                    key = f"{name} {status}"
                    statuses[key] = statuses.get(key, 0) + 1
                    if (
                        status >= 500
                        or (name == "submit" and status != 201)
                        or (name == "allocate" and status not in (200, 409))
                    ):
                        errors.append(key)
        # The baseline: the same 20 clients, as many calls each, on the bare endpoint.
        barrier.wait(timeout=300)
        for _ in range(2 * ROUNDS):
            status, answer, ms = call(base, "GET", BARE_PATH, traders[k])
            with lock:
                bare.append(ms)
                if status != 200 or len(answer.get("results", ())) != 50:
                    errors.append(f"bare {status}")

    # The clients run in this process, beside whatever earlier figures left on its heap (100k
    # seeded loans): keep full collections of that heap out of the timed calls, as the server's
    # workers do (gunicorn.conf.py).
    gc.collect()
    gc.freeze()
    try:
        with Server() as base:
            threads = [threading.Thread(target=client, args=(base, k)) for k in range(CLIENTS)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(timeout=600)
            wall = time.perf_counter() - (started[0] if started else time.perf_counter())
    finally:
        gc.unfreeze()
    expected = 2 * CLIENTS * ROUNDS  # every submit answered 201 and was allocated
    desk_p99, bare_p99 = p99(latencies), p99(bare)
    ratio = desk_p99 / bare_p99
    allocated = sum(
        (a.quantity for a in Allocation.objects.filter(asset=asset).exclude(status="released")),
        Decimal(0),
    )
    inv = inventory([asset.pk])[asset.pk]
    over = allocated - LENDABLE
    out(
        f"{len(latencies)} calls from {CLIENTS} clients in {wall:.1f}s: p50 "
        f"{statistics.median(latencies) if latencies else 0:.1f} ms, p99 {desk_p99:.1f} ms; "
        f"bare endpoint p50 {statistics.median(bare) if bare else 0:.1f} ms, p99 "
        f"{bare_p99:.1f} ms; {statuses}; allocated {allocated} of {LENDABLE} lendable "
        f"(available now {inv['available']})"
    )
    return [
        Figure(
            name=f"borrow request submit + allocate, {CLIENTS} concurrent clients: p99 vs "
            "the bare endpoint's",
            value=ratio,
            unit="x",
            target=f"<= {TARGET_RATIO}x",
            ok=ratio <= TARGET_RATIO
            and not errors
            and len(latencies) == expected
            and len(bare) == expected,
            beside=f"{desk_p99:.1f} ms vs {bare_p99:.1f} ms",
            detail={
                "p99_ms": round(desk_p99, 1),
                "p50_ms": round(statistics.median(latencies), 1) if latencies else None,
                "bare_p99_ms": round(bare_p99, 1),
                "bare_p50_ms": round(statistics.median(bare), 1) if bare else None,
                "calls": len(latencies),
                "statuses": statuses,
                "allocated": str(allocated),
                "lendable": str(LENDABLE),
                "errors": errors[:10],
            },
        ),
        Figure(
            name="  ... over-allocation (allocated beyond lendable)",
            value=max(over, Decimal(0)),
            unit="BENCHX",
            target="0",
            ok=over <= 0,
            beside=f"{allocated.normalize():f} allocated of {LENDABLE}",
        ),
    ]


register_bench(BenchGroup(name="borrow_desk", order=30, run=run))
