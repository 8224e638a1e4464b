from __future__ import annotations

import decimal
import os
import subprocess
import sys
import threading
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from financing.accounts.models import User
from financing.refdata.models import Asset, Counterparty, Desk

ROOT = Path(__file__).resolve().parents[2]
STRONG = "k" * 20 + "Zq8#xP2mL9vB4nR7tY1wE5uI3oA6sD0fG"


def _django(
    env_over: dict, code: str = "import django; django.setup()"
) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("DEBUG", "SECRET_KEY")}
    env.update({"DJANGO_SETTINGS_MODULE": "financing.settings", **env_over})
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def test_production_refuses_to_start_without_a_secret_key():
    r = _django({"DEBUG": "false", "DATABASE_URL": "postgres://x@localhost/x"})
    assert r.returncode != 0 and "SECRET_KEY must be set" in r.stderr


def test_production_refuses_a_weak_secret_key():
    r = _django(
        {"DEBUG": "false", "SECRET_KEY": "short", "DATABASE_URL": "postgres://x@localhost/x"}
    )
    assert r.returncode != 0 and "too weak" in r.stderr


def test_sqlite_is_refused():
    r = _django({"DEBUG": "true", "DATABASE_URL": "sqlite:///tmp/x.db"})
    assert r.returncode != 0 and "PostgreSQL" in r.stderr


def test_check_deploy_passes_in_production_mode():
    env = {k: v for k, v in os.environ.items() if k not in ("DEBUG",)}
    env.update(
        {
            "DEBUG": "false",
            "SECRET_KEY": STRONG,
            "ALLOWED_HOSTS": "desk.example.com",
            "DATABASE_URL": "postgres://x@localhost/x",
        }
    )
    r = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stdout + r.stderr


def test_decimal_context_is_widened_in_every_thread():
    seen = []
    t = threading.Thread(target=lambda: seen.append(decimal.getcontext().prec))
    t.start()
    t.join()
    assert decimal.getcontext().prec == 50 and seen == [50]


@pytest.mark.django_db
def test_add_user_creates_each_role_and_is_idempotent():
    out = StringIO()
    for role in ("ops", "risk", "treasury", "compliance", "auditor", "admin"):
        call_command(
            "add_user", f"u-{role}", "--role", role, "--password", "Str0ng-pass-2026", stdout=out
        )
    call_command(
        "add_user",
        "t1",
        "--role",
        "trading",
        "--password",
        "Str0ng-pass-2026",
        "--desk",
        "newdesk",
        stdout=out,
    )
    t1 = User.objects.get(username="t1")
    assert t1.role == "trading" and t1.desk.code == "NEWDESK"
    assert User.objects.get(username="u-admin").is_superuser
    call_command(
        "add_user", "u-ops", "--role", "risk", "--password", "Str0ng-pass-2026", stdout=out
    )
    assert User.objects.filter(username="u-ops").count() == 1
    assert User.objects.get(username="u-ops").role == "risk"
    with pytest.raises(CommandError, match="needs --desk"):
        call_command("add_user", "t2", "--role", "trading", "--password", "Str0ng-pass-2026")
    assert not User.objects.filter(username="t2").exists()
    assert Desk.objects.filter(code="NEWDESK").count() == 1


@pytest.mark.django_db
def test_seed_demo_is_idempotent():
    call_command("seed_demo", stdout=StringIO())
    counts = (
        User.objects.count(),
        Asset.objects.count(),
        Counterparty.objects.count(),
        User.history.count(),
        Counterparty.history.count(),
    )
    call_command("seed_demo", stdout=StringIO())
    assert counts == (
        User.objects.count(),
        Asset.objects.count(),
        Counterparty.objects.count(),
        User.history.count(),
        Counterparty.history.count(),
    )
    assert counts[0] == 9 and Counterparty.objects.filter(kyc_status="approved").exists()
