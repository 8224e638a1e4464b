"""Fixtures every suite shares, defined once: the frozen instant, the assets and the
counterparty most tests book against, users and clients, and threads with their own database
connections."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, date, datetime

import pandas  # noqa: F401  (imported before freezegun patches the clock: it crashes under it)
import pytest
from django.db import connection
from freezegun import freeze_time
from rest_framework.test import APIClient

from financing.accounts.roles import Role
from tests.factories import AssetFactory, CounterpartyFactory, UserFactory

ROLES = list(Role.values)
#: The instant the suites' clocks stand at.
NOW = datetime(2026, 11, 21, 9, 30, tzinfo=UTC)


@pytest.fixture
def now():
    return NOW


@pytest.fixture
def frozen():
    """The clock stands at NOW; the fixture is freezegun's handle (frozen.tick(...))."""
    with freeze_time(NOW) as clock:
        yield clock


@pytest.fixture
def btc(db):
    return AssetFactory(symbol="BTC", name="Bitcoin", decimals=8)


@pytest.fixture
def usdc(db):
    return AssetFactory(symbol="USDC", name="USD Coin", decimals=6, is_stablecoin=True)


@pytest.fixture
def cp(db):
    """The counterparty ACME, KYC approved until 2030."""
    return CounterpartyFactory(code="ACME", kyc_expires_on=date(2030, 1, 1))


@pytest.fixture
def make_user(db):
    """make_user("ops") or make_user("trading", username="t1", desk=desk)."""

    def make(role: str = "ops", **kwargs):
        return UserFactory(role=role, **kwargs)

    return make


@pytest.fixture
def api(db):
    """api(user) -> an APIClient authenticated with that user's token."""
    from rest_framework.authtoken.models import Token

    def client_for(user=None):
        client = APIClient()
        if user is not None:
            token, _ = Token.objects.get_or_create(user=user)
            client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
        return client

    return client_for


@pytest.fixture
def page(client):
    """page(user) -> a Django test client logged in as that user (session)."""

    def client_for(user):
        client.force_login(user)
        return client

    return client_for


def pytest_sessionfinish(session, exitstatus):
    """In CI a skipped test is a failure (quality.md): nothing here may be skipped."""
    import os

    if not os.environ.get("CI"):
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter else []
    if skipped:
        reporter.write_line(f"CI: {len(skipped)} skipped test(s); skipping is a failure in CI.")
        session.exitstatus = 1


def run_in_threads(n: int, target: Callable[[int], object]) -> list[object]:
    """target(i) in n threads released together by a barrier; each thread has its own database
    connection, closed when it ends. Returns each thread's result or the exception it raised."""
    barrier = threading.Barrier(n)
    results: list[object] = [None] * n

    def worker(i: int) -> None:
        try:
            barrier.wait(timeout=20)
            results[i] = target(i)
        except Exception as exc:  # the test inspects what each thread got
            results[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads), "a thread is stuck (deadlock?)"
    return results
