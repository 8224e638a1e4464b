"""Alerts fixtures: registered test kinds and a real local HTTP receiver of webhooks."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from financing.alerts import registry
from financing.alerts.registry import AlertKind

#: Critical by default; concerns risk and ops (their users are emailed).
CALL = "test.margin_call"
#: Info by default; concerns treasury.
NOTICE = "test.notice"


@pytest.fixture(autouse=True)
def alert_kinds():
    kinds = [
        registry.register_kind(AlertKind(CALL, "Test margin call", "critical", ("risk", "ops"))),
        registry.register_kind(AlertKind(NOTICE, "Test notice", "info", ("treasury",))),
    ]
    yield kinds
    for kind in kinds:
        registry.unregister_kind(kind.name)


@pytest.fixture(autouse=True)
def alert_settings(settings):
    """No recipient from the environment unless a test sets one; fast retries are not
    assumed: the defaults (30 s doubling, 8 attempts) are what the tests reason about."""
    settings.ALERT_EMAIL_TO = []
    settings.WEBHOOK_URLS = []
    settings.WEBHOOK_SECRET = ""
    settings.WEBHOOK_TIMEOUT_SECONDS = 5.0
    settings.ALERT_DELIVERY_MAX_ATTEMPTS = 8
    settings.ALERT_DELIVERY_BACKOFF_SECONDS = 30
    settings.ALERT_DELIVERY_BACKOFF_MAX_SECONDS = 3600
    settings.ALERT_LINK_BASE_URL = ""
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    return settings


# ---------------------------------------------------------------- a real webhook receiver


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    extra: dict = field(default_factory=dict)

    @property
    def json(self) -> dict:
        return json.loads(self.body)


@dataclass
class Receiver:
    """A local HTTP server answering each POST with the next status of `statuses` (the last
    one repeats). `on_request(received)` runs inside the handler, before it answers."""

    statuses: list[int]
    url: str = ""
    received: list[Received] = field(default_factory=list)
    delay_seconds: float = 0.0
    on_request: Callable[[Received], None] | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def next_status(self) -> int:
        with self.lock:
            return self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]


@pytest.fixture
def receiver():
    servers: list[ThreadingHTTPServer] = []

    def start(statuses=(200,), *, delay_seconds: float = 0.0, on_request=None) -> Receiver:
        rec = Receiver(list(statuses), delay_seconds=delay_seconds, on_request=on_request)

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                got = Received(headers=dict(self.headers.items()), body=self.rfile.read(length))
                if rec.on_request is not None:
                    rec.on_request(got)
                with rec.lock:
                    rec.received.append(got)
                if rec.delay_seconds:
                    threading.Event().wait(rec.delay_seconds)
                status = rec.next_status()
                payload = b"ok" if status < 400 else b"receiver says no"
                try:
                    self.send_response(status)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout test)

            def log_message(self, *args):
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        rec.url = f"http://127.0.0.1:{server.server_port}/hooks/alerts"
        servers.append(server)
        return rec

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()
