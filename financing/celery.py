"""The Celery app. Broker from CELERY_BROKER_URL (Redis in production; kombu's filesystem://
transport under var/celery by default). The beat schedule comes from the jobs registry and is
kept in the database by django-celery-beat's DatabaseScheduler; financing.jobs installs it when
the app is finalized (this module sits below every app and imports none)."""

from __future__ import annotations

import os
from pathlib import Path

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "financing.settings")

app = Celery("financing")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


def ensure_filesystem_broker_dirs() -> None:
    """kombu's filesystem transport needs its folders to exist."""
    options = app.conf.broker_transport_options or {}
    for key in ("data_folder_in", "data_folder_out", "processed_folder", "control_folder"):
        if options.get(key):
            Path(options[key]).mkdir(parents=True, exist_ok=True)
