"""Run as `python tests/devtools/process_probe.py web|worker` (test_not_loaded.py does): start
the way a production process starts, do what it does, and print the project modules it loaded
as JSON on the last line of stdout.

web: financing.wsgi (django.setup()), the root URLconf with every view it routes to, the
OpenAPI schema (every serializer), and a few requests served through the test client: the
health check, an API list with a token, and (DEBUG only: production pages need collectstatic's
manifest) a dashboard page with a session. PROBE_TOKEN and PROBE_USER name who calls.
worker: the Celery app as `celery -A financing worker` loads it, with autodiscovery run (every
installed app's tasks module) and the beat schedule built."""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import sys

PROJECT = ("financing", "compliance", "treasury", "loans", "collateral", "reconciliation")


def _walk(patterns) -> int:
    """Touch every route of a URLconf, included ones too; returns how many views it found."""
    from django.urls import URLPattern, URLResolver

    found = 0
    for entry in patterns:
        if isinstance(entry, URLResolver):
            found += _walk(entry.url_patterns)
        elif isinstance(entry, URLPattern):
            assert callable(entry.callback)
            found += 1
    return found


def web() -> dict:
    # What gunicorn imports first: django.setup() and the handler, before anything else.
    importlib.import_module("financing.wsgi")
    from django.conf import settings
    from django.test import Client
    from django.urls import get_resolver
    from drf_spectacular.generators import SchemaGenerator

    importlib.import_module(settings.ROOT_URLCONF)
    views = _walk(get_resolver().url_patterns)
    schema = SchemaGenerator().get_schema(request=None, public=True)
    client = Client(HTTP_HOST="localhost")
    served = {"/healthz": client.get("/healthz", secure=True).status_code}
    token = {"HTTP_AUTHORIZATION": f"Token {os.environ['PROBE_TOKEN']}"}
    for path in ("/api/loans/", "/api/borrow-requests/", "/api/inventory/"):
        served[path] = client.get(path, secure=True, **token).status_code
    if settings.DEBUG:
        from financing.accounts.models import User

        client.force_login(User.objects.get(username=os.environ["PROBE_USER"]))
        for path in ("/", "/loans/", "/risk/", "/treasury/"):
            served[path] = client.get(path, secure=True).status_code
    return {"views": views, "api_paths": len(schema["paths"]), "served": served}


def worker() -> dict:
    from financing.celery import app

    app.loader.import_default_modules()  # the worker's start: autodiscover_tasks runs here
    app.finalize(auto=True)
    from django.apps import apps

    from financing.jobs.registry import beat_schedule

    tasks_modules = []
    for config in apps.get_app_configs():
        if importlib.util.find_spec(f"{config.name}.tasks") is not None:
            tasks_modules.append(importlib.import_module(f"{config.name}.tasks").__name__)
    return {
        "tasks": sorted(t for t in app.tasks if not t.startswith("celery.")),
        "tasks_modules": tasks_modules,
        "beat": sorted(beat_schedule()),
    }


if __name__ == "__main__":
    result = {"web": web, "worker": worker}[sys.argv[1]]()
    result["modules"] = sorted(
        name for name in sys.modules if name.split(".")[0] in (*PROJECT, "devtools")
    )
    print(json.dumps(result))
