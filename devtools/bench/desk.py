"""Benchmark of the borrow desk (quality.md): submit + allocate under 20 concurrent clients on
loopback, p99 latency and zero over-allocation.

The product is served as in production (the Dockerfile's command): gunicorn with 3 sync
workers on 127.0.0.1, persistent database connections, on the bench database; 20 client threads each submit a request as a trading user over HTTP and
allocate it as operations, until the asset's inventory runs out (later allocations answer 409).
Every allocation of the asset queues on the same inventory row lock: the figure includes that
wait.
"""

from __future__ import annotations

import contextlib
import gc
import http.client
import json
import math
import os
import random
import secrets
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from datetime import timedelta
from decimal import Decimal
from urllib.parse import quote

from django.conf import settings
from django.db import DatabaseError, connection

from devtools.bench.registry import BenchGroup, Figure, register_bench
from financing import clock

CLIENTS = 20
ROUNDS = 15
LENDABLE = Decimal("5000")


def _database_url() -> str:
    """The bench database as a URL for the server process."""
    cfg = connection.settings_dict
    user = quote(cfg.get("USER") or "postgres")
    host = cfg.get("HOST") or "127.0.0.1"
    if host.startswith("/"):
        return f"postgresql://{user}@/{cfg['NAME']}?host={host}"
    password = f":{quote(cfg['PASSWORD'])}" if cfg.get("PASSWORD") else ""
    port = f":{cfg['PORT']}" if cfg.get("PORT") else ""
    return f"postgresql://{user}{password}@{host}{port}/{cfg['NAME']}"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _serve(port: int) -> subprocess.Popen:
    # Production settings (DEBUG off): what a desk would run, without the debug toolbar's cost
    # of recording every query.
    env = {
        **os.environ,
        "DATABASE_URL": _database_url(),
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(64),
        "ALLOWED_HOSTS": "localhost,127.0.0.1",
        "SECURE_SSL_REDIRECT": "false",
        # Persistent connections, as a production deployment runs (README): a new PostgreSQL
        # connection per request would dominate a 10 ms request.
        "CONN_MAX_AGE": "60",
    }
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "financing.wsgi",
            "-c",
            str(settings.BASE_DIR / "gunicorn.conf.py"),
            "--bind",
            f"127.0.0.1:{port}",
            # As the Dockerfile serves it: sync workers, one request each. (Threads in one
            # worker queue accepted connections behind each other while other workers idle.)
            "--workers",
            "3",
            "--log-level",
            "warning",
        ],
        env=env,
    )
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2):
                return proc
        except (urllib.error.URLError, ConnectionError, OSError):
            time.sleep(0.3)
    proc.terminate()
    raise RuntimeError("the bench server did not start")


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
    return asset, Token.objects.get_or_create(user=ops)[0].key, traders


def _call(base: str, path: str, token: str, body: dict) -> tuple[int, dict, float]:
    """One POST as a client would send it, timed from connect to the last byte of the answer.
    http.client, not urllib: the load generator shares the machine's cores with the server,
    and urllib's handler chain cost a millisecond of them per call."""
    host, port = base.removeprefix("http://").split(":")
    payload = json.dumps(body).encode()
    headers = {
        "Authorization": f"Token {token}",
        "Content-Type": "application/json",
        "Host": "localhost",
    }
    t0 = time.perf_counter()
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        conn.request("POST", path, body=payload, headers=headers)
        resp = conn.getresponse()
        status, raw = resp.status, resp.read()
        try:
            answer = json.loads(raw or b"{}")
        except ValueError:  # an HTML error page: the status says what went wrong
            answer = {"body": raw[:200].decode(errors="replace")}
    finally:
        conn.close()
    return status, answer, (time.perf_counter() - t0) * 1000


def _settle() -> None:
    """Let the database come to rest after the earlier groups' bulk writes (100k loans, three
    whole-book revaluations): vacuum what they left, as autovacuum would have by then, and
    write their dirty pages out, so neither lands on the 2 cores inside the timed calls."""
    with connection.cursor() as cur:
        cur.execute("VACUUM (ANALYZE)")
        # CHECKPOINT needs a superuser (or pg_checkpoint) on an external server: else skip it.
        with contextlib.suppress(DatabaseError):
            cur.execute("CHECKPOINT")


def run(*, scale: int, out) -> list[Figure]:
    from loans.desk import inventory
    from loans.desk_models import Allocation

    asset, ops_token, traders = _setup()
    _settle()
    port = _free_port()
    server = _serve(port)
    base = f"http://127.0.0.1:{port}"
    needed_by = (clock.now() + timedelta(days=2)).isoformat()
    latencies: list[float] = []
    statuses: dict[str, int] = {}
    errors: list[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(CLIENTS)
    started: list[float] = []

    def pair(k: int, rnd: random.Random, symbol: str) -> list[tuple[str, int, float]]:
        """One client's round: submit a request as its trader, allocate it as operations."""
        qty = f"{rnd.randint(1, 40)}.{rnd.randint(0, 99999999):08d}"
        s1, body, ms1 = _call(
            base,
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
            s2, _b, ms2 = _call(base, f"/api/borrow-requests/{body['id']}/allocate/", ops_token, {})
            rows.append(("allocate", s2, ms2))
        return rows

    def client(k: int) -> None:
        # Whatever goes wrong in a client is an error of the figure, never a silently
        # missing sample.
        try:
            timed_rounds(k)
        except Exception as exc:
            with lock:
                errors.append(f"client {k}: {exc!r}"[:200])

    def timed_rounds(k: int) -> None:
        rnd = random.Random(k)  # noqa: S311 - a reproducible load mix, not a secret
        # Warm-up, not timed, on its own asset: every server worker imports its views, opens
        # its database connection and prepares its statements once, as a server has done
        # before it takes traffic; then everyone starts together.
        _call(base, "/api/borrow-requests/", traders[k], {"asset": "NOPE"})
        for _ in range(3):
            pair(k, rnd, "BENCHW")
        if barrier.wait(timeout=120) == 0:
            started.append(time.perf_counter())
        for _ in range(ROUNDS):
            rows = pair(k, rnd, "BENCHX")
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

    # The clients run in this process, beside whatever earlier figures left on its heap (100k
    # seeded loans): keep full collections of that heap out of the timed calls, as the server's
    # workers do (gunicorn.conf.py).
    gc.collect()
    gc.freeze()
    try:
        threads = [threading.Thread(target=client, args=(k,)) for k in range(CLIENTS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=600)
        wall = time.perf_counter() - (started[0] if started else time.perf_counter())
    finally:
        gc.unfreeze()
        server.terminate()
        server.wait(timeout=30)
    expected = 2 * CLIENTS * ROUNDS  # every submit answered 201 and was allocated
    latencies.sort()
    p99 = latencies[max(int(len(latencies) * 0.99) - 1, 0)] if latencies else math.inf
    allocated = sum(
        (a.quantity for a in Allocation.objects.filter(asset=asset).exclude(status="released")),
        Decimal(0),
    )
    inv = inventory([asset.pk])[asset.pk]
    over = allocated - LENDABLE
    out(
        f"{len(latencies)} calls from {CLIENTS} clients in {wall:.1f}s: p50 "
        f"{statistics.median(latencies):.1f} ms, p99 {p99:.1f} ms; {statuses}; allocated "
        f"{allocated} of {LENDABLE} lendable (available now {inv['available']})"
    )
    return [
        Figure(
            name=f"borrow request submit + allocate, {CLIENTS} concurrent clients on loopback",
            value=p99,
            unit="ms p99",
            target="<= 200 ms, zero over-allocation",
            ok=p99 <= 200 and over <= 0 and not errors and len(latencies) == expected,
            detail={
                "p50_ms": round(statistics.median(latencies), 1),
                "calls": len(latencies),
                "statuses": statuses,
                "allocated": str(allocated),
                "lendable": str(LENDABLE),
                "over_allocated": str(max(over, Decimal(0))),
                "errors": errors[:10],
            },
        ),
        Figure(
            name="  ... over-allocation (allocated beyond lendable)",
            value=max(over, Decimal(0)),
            unit="BENCHX",
            target="0",
            ok=over <= 0,
        ),
    ]


register_bench(BenchGroup(name="borrow_desk", order=30, run=run))
