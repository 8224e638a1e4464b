"""The bench's server and client: the product served as in production (the Dockerfile's
command: gunicorn, sync workers, persistent connections, DEBUG off) on the bench database, with
the bench URLconf (devtools.benchserver.urls: the product's routes plus the bare baseline), and a
loopback HTTP client that times each call."""

from __future__ import annotations

import contextlib
import http.client
import json
import math
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from urllib.parse import quote

from django.conf import settings
from django.db import DatabaseError, connection


def database_url() -> str:
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


class Server:
    """`with Server() as base:` serves on 127.0.0.1 until the block ends; `base` is its URL."""

    def __init__(self, workers: int = 3):
        self.workers = workers
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> str:
        port = _free_port()
        # Production settings (DEBUG off): what a desk would run, without the debug toolbar's
        # cost of recording every query; the bench URLconf adds the bare baseline endpoint.
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "devtools.benchserver.settings",
            "DATABASE_URL": database_url(),
            "DEBUG": "false",
            "SECRET_KEY": secrets.token_urlsafe(64),
            "ALLOWED_HOSTS": "localhost,127.0.0.1",
            "SECURE_SSL_REDIRECT": "false",
            # Persistent connections, as a production deployment runs (README): a new
            # PostgreSQL connection per request would dominate a 10 ms request.
            "CONN_MAX_AGE": "60",
        }
        self.proc = subprocess.Popen(
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
                str(self.workers),
                "--log-level",
                "warning",
            ],
            env=env,
        )
        deadline = time.time() + 60
        while time.time() < deadline and self.proc.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2):
                    return f"http://127.0.0.1:{port}"
            except (urllib.error.URLError, ConnectionError, OSError):
                time.sleep(0.3)
        self.__exit__()
        raise RuntimeError("the bench server did not start (its log is above)")

    def __exit__(self, *exc) -> None:
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.terminate()
            self.proc.wait(timeout=30)
            self.proc = None


def call(
    base: str, method: str, path: str, token: str, body: dict | None = None
) -> tuple[int, dict, float]:
    """One call as a client would send it, timed from connect to the last byte of the answer.
    http.client, not urllib: the load generator shares the machine's cores with the server,
    and urllib's handler chain cost a millisecond of them per call."""
    host, port = base.removeprefix("http://").split(":")
    payload = json.dumps(body).encode() if body is not None else None
    headers = {"Authorization": f"Token {token}", "Host": "localhost"}
    if payload is not None:
        headers["Content-Type"] = "application/json"
    t0 = time.perf_counter()
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        conn.request(method, path, body=payload, headers=headers)
        resp = conn.getresponse()
        status, raw = resp.status, resp.read()
        try:
            answer = json.loads(raw or b"{}")
        except ValueError:  # an HTML error page: the status says what went wrong
            answer = {"body": raw[:200].decode(errors="replace")}
    finally:
        conn.close()
    return status, answer, (time.perf_counter() - t0) * 1000


def p99(samples: list[float]) -> float:
    """The 99th percentile of latencies (ms); inf for no samples, so it never passes a target."""
    if not samples:
        return math.inf
    ordered = sorted(samples)
    return ordered[max(int(len(ordered) * 0.99) - 1, 0)]


def settle() -> None:
    """Let the database come to rest after the earlier groups' bulk writes (100k loans, three
    whole-book revaluations): vacuum what they left, as autovacuum would have by then, and
    write their dirty pages out, so neither lands on the 2 cores inside the timed calls."""
    with connection.cursor() as cur:
        cur.execute("VACUUM (ANALYZE)")
        # CHECKPOINT needs a superuser (or pg_checkpoint) on an external server: else skip it.
        with contextlib.suppress(DatabaseError):
            cur.execute("CHECKPOINT")
