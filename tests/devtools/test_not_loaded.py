"""Dev tools are not loaded in production processes (style.md: devtools is never imported by a
web or worker process). Each process starts fresh, as it does in production, in a subprocess:
this test's own process has loaded everything pytest collected."""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import connection
from rest_framework.authtoken.models import Token

from tests.factories import UserFactory

PROBE = Path(__file__).with_name("process_probe.py")
#: What an installed devtools app may load on its own: the package and its AppConfig.
ALLOWED = {"devtools", "devtools.apps"}
#: Where the bench, the demo book and the synthetic books lived before devtools/.
OLD_HOMES = {
    "financing.bench",
    "financing.demo",
    "financing.refdata.demo",
    "treasury.demo",
    "loans.bench",
    "loans.demo",
    "loans.synthetic",
    "loans.desk_bench",
    "loans.desk_demo",
    "collateral.bench",
    "collateral.demo",
    "collateral.synthetic",
}
#: A module of the product named like a dev tool (bench, demo, synthetic), wherever it sits.
DEV_TOOL_NAME = re.compile(r"(^|\.|_)(bench|demo|synthetic)(\.|_|$)")


def _database_url() -> str:
    s = connection.settings_dict
    host = s.get("HOST") or s.get("OPTIONS", {}).get("host", "")
    user = quote(s.get("USER") or "", safe="")
    password = quote(s.get("PASSWORD") or "", safe="")
    credentials = f"{user}:{password}@" if password else f"{user}@"
    if host.startswith("/"):  # a unix socket directory (the embedded server)
        return f"postgresql://{credentials}/{s['NAME']}?host={quote(host, safe='/')}"
    port = f":{s['PORT']}" if s.get("PORT") else ""
    return f"postgres://{credentials}{host}{port}/{s['NAME']}"


def _env(*, debug: bool, **extra: str) -> dict[str, str]:
    env = {
        **os.environ,
        "PYTHONPATH": str(settings.BASE_DIR),
        "DJANGO_SETTINGS_MODULE": "financing.settings",
        "DATABASE_URL": _database_url(),
        "DEBUG": "true" if debug else "false",
        "SECRET_KEY": secrets.token_urlsafe(64),
        "ALLOWED_HOSTS": "localhost",
        **extra,
    }
    env.pop("CELERY_TASK_ALWAYS_EAGER", None)
    return env


def _probe(kind: str, env: dict[str, str]) -> dict:
    done = subprocess.run(
        [sys.executable, str(PROBE), kind],
        env=env,
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def _dev_tools(modules) -> list[str]:
    return sorted(
        m
        for m in modules
        if (m.startswith("devtools") and m not in ALLOWED)
        or m in OLD_HOMES
        or (not m.startswith("devtools") and DEV_TOOL_NAME.search(m))
    )


def test_the_dev_tool_check_recognises_every_old_and_new_home():
    assert _dev_tools(["devtools", "devtools.apps", "loans.ui", "financing.jobs.tasks"]) == []
    found = _dev_tools(
        [
            "devtools.bench",
            "devtools.demo.loans",
            "loans.desk_bench",
            "treasury.demo",
            "x.synthetic",
        ]
    )
    assert len(found) == 5


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("debug", [False, True], ids=["production", "debug"])
def test_a_web_worker_serves_requests_without_loading_dev_tools(debug):
    user = UserFactory(role="ops", username="probe-ops")
    token = Token.objects.create(user=user)

    result = _probe("web", _env(debug=debug, PROBE_TOKEN=token.key, PROBE_USER=user.username))

    assert result["views"] > 100 and result["api_paths"] > 30
    assert set(result["served"].values()) == {200}, result["served"]
    assert {"loans.views", "collateral.api_urls", "financing.urls"} <= set(result["modules"])
    assert set(result["modules"]) >= ALLOWED  # devtools is installed, and only its app loads
    assert _dev_tools(result["modules"]) == []


@pytest.mark.django_db
def test_a_celery_worker_loads_every_tasks_module_without_dev_tools():
    result = _probe("worker", _env(debug=False))

    assert "jobs.run" in result["tasks"] and result["beat"]
    assert {"financing.jobs.tasks", "collateral.tasks"} <= set(result["tasks_modules"])
    assert {"loans.jobs", "collateral.jobs", "financing.alerts.jobs"} <= set(result["modules"])
    assert _dev_tools(result["modules"]) == []


def test_manage_py_check_imports_no_bench_demo_or_synthetic_module():
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "manage.py", "check"],
        env=_env(debug=True),
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    imported = [
        line.rsplit("|", 1)[1].strip()
        for line in done.stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    ]
    # The modules an AppConfig.ready() imports show here (the old bench and demo modules did).
    assert {"loans.ui", "collateral.ui", "financing.alerts.jobs"} <= set(imported)
    assert _dev_tools(imported) == []
