"""Settings refuse unsafe production configurations, pass `check --deploy` when configured,
and widen the Decimal context for every thread. Each case starts a fresh interpreter."""

from __future__ import annotations

import decimal
import os
import secrets
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import connection

BASE_DIR = Path(settings.BASE_DIR)
SETUP = "import django; django.setup(); print('configured')"
#: Variables the test session sets that would leak into the configurations under test.
SCRUBBED = (
    "SECRET_KEY",
    "DEBUG",
    "DATABASE_URL",
    "ALLOWED_HOSTS",
    "TEST_FAST_PASSWORD_HASHER",
    "CELERY_TASK_ALWAYS_EAGER",
)


def _database_url() -> str:
    """The session's database as a URL, so the child never starts its own server."""
    s = connection.settings_dict
    host = s.get("HOST") or s.get("OPTIONS", {}).get("host", "")
    user = quote(s.get("USER") or "", safe="")
    password = quote(s.get("PASSWORD") or "", safe="")
    credentials = f"{user}:{password}@" if password else f"{user}@"
    if host.startswith("/"):
        return f"postgresql://{credentials}/{s['NAME']}?host={quote(host, safe='/')}"
    port = f":{s['PORT']}" if s.get("PORT") else ""
    return f"postgres://{credentials}{host}{port}/{s['NAME']}"


def _run(args: list[str], **env: str) -> subprocess.CompletedProcess:
    child_env = {k: v for k, v in os.environ.items() if k not in SCRUBBED}
    child_env["DJANGO_SETTINGS_MODULE"] = "financing.settings"
    child_env.update(env)
    return subprocess.run(
        [sys.executable, *args],
        cwd=BASE_DIR,
        env=child_env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _strong_key() -> str:
    return secrets.token_urlsafe(64)


def test_production_mode_without_secret_key_refuses_to_start():
    result = _run(["-c", SETUP], DEBUG="false")
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "SECRET_KEY must be set" in result.stderr
    assert "configured" not in result.stdout


@pytest.mark.parametrize(
    "key",
    [
        "short-key",
        "a" * 80,  # long but with no variety
        "dev-insecure-only-for-local-runs-never-in-production-000000000000000",
    ],
    ids=["too-short", "one-character", "the-dev-key"],
)
def test_production_mode_refuses_a_weak_secret_key(key):
    result = _run(["-c", SETUP], DEBUG="false", SECRET_KEY=key)
    assert result.returncode != 0
    assert "SECRET_KEY is too weak" in result.stderr


@pytest.mark.parametrize("debug", ["true", "false"])
def test_sqlite_is_refused(debug):
    result = _run(["-c", SETUP], DEBUG=debug, SECRET_KEY=_strong_key(), DATABASE_URL="sqlite:///x")
    assert result.returncode != 0
    assert "DATABASE_URL must point at PostgreSQL" in result.stderr
    assert not (BASE_DIR / "x").exists()


def test_check_deploy_passes_with_production_settings(db):
    result = _run(
        ["manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        DEBUG="false",
        SECRET_KEY=_strong_key(),
        ALLOWED_HOSTS="financing.example.com",
        DATABASE_URL=_database_url(),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_check_deploy_fails_in_debug_mode(db):
    """The control of the case above: the check does flag an unsafe configuration."""
    result = _run(
        ["manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        DEBUG="true",
        SECRET_KEY=_strong_key(),
        DATABASE_URL=_database_url(),
    )
    assert result.returncode != 0
    assert "DEBUG" in result.stderr + result.stdout


DECIMAL_PROBE = """
import decimal, threading
import django
django.setup()
seen = []
t = threading.Thread(target=lambda: seen.append(decimal.getcontext().prec))
t.start(); t.join()
print(decimal.getcontext().prec, seen[0], decimal.getcontext().rounding)
"""


def test_decimal_precision_is_50_in_the_main_thread_and_new_threads(db):
    result = _run(["-c", DECIMAL_PROBE], DEBUG="true", DATABASE_URL=_database_url())
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["50", "50", decimal.ROUND_HALF_EVEN]


def test_decimal_precision_is_50_in_this_process_and_its_worker_threads():
    seen = []
    thread = threading.Thread(target=lambda: seen.append(decimal.getcontext().prec))
    thread.start()
    thread.join()
    with ThreadPoolExecutor(max_workers=1) as pool:
        pooled = pool.submit(lambda: decimal.getcontext().prec).result()
    assert (decimal.getcontext().prec, seen[0], pooled) == (50, 50, 50)
    # 1/3 to 50 significant digits: a float-like 28-digit context would lose precision.
    assert len(str(decimal.Decimal(1) / decimal.Decimal(3))) == 52
