"""Reads of the audit trail: a record's timeline with field diffs, a record as of a time,
the activity feed. Works for any model that has django-simple-history."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.apps import apps
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import QuerySet

from financing.audit.models import ActivityEntry, AuthEvent
from financing.errors import NotFound


def audited_models() -> list[type[models.Model]]:
    """Every model with history, in app order; the auditor's model filter lists these."""
    return [
        m
        for m in apps.get_models()
        if hasattr(m, "history")
        and not m._meta.app_label.startswith("simple_history")
        and hasattr(m._meta, "simple_history_manager_attribute")
    ]


def audited_model(app_label: str, model_name: str) -> type[models.Model]:
    try:
        model = apps.get_model(app_label, model_name)
    except LookupError:
        raise NotFound(f"No model {app_label}.{model_name}.") from None
    if model not in audited_models():
        raise NotFound(f"{app_label}.{model_name} has no history.")
    return model


def _display(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, datetime | list | dict | bool | int):
        return value
    return str(value)


def _record_pk(model: type[models.Model], pk: Any) -> Any:
    """The primary key as the model's pk field reads it; a value it cannot be ("abc" for an
    integer key) names no record, so NotFound rather than a database error."""
    try:
        value = model._meta.pk.to_python(pk)
    except ValidationError:
        value = None
    if value is None or value == "":
        raise NotFound(f"No {model._meta.verbose_name} {pk}.")
    return value


def record_timeline(model: type[models.Model], pk: Any) -> list[dict[str, Any]]:
    """Every version of a record, oldest first, each with who, when, why and what changed.
    One query: consecutive versions are diffed in memory. NotFound for a key no version has."""
    pk = _record_pk(model, pk)
    versions = list(
        model.history.filter(**{model._meta.pk.attname: pk})
        .select_related("history_user")
        .order_by("history_date", "history_id")
    )
    if not versions:
        raise NotFound(f"No history for {model._meta.verbose_name} {pk}.")
    fields = [f for f in model._meta.fields if f.attname not in ("password",)]
    tracked = {f.attname for f in versions[0]._meta.fields}
    fields = [f for f in fields if f.attname in tracked]
    timeline = []
    prev = None
    for v in versions:
        changes = []
        for f in fields:
            new = getattr(v, f.attname)
            old = getattr(prev, f.attname) if prev is not None else None
            if prev is None or old != new:
                changes.append(
                    {
                        "field": f.name,
                        "label": str(f.verbose_name),
                        "old": _display(old),
                        "new": _display(new),
                    }
                )
        timeline.append(
            {
                "history_id": v.history_id,
                "at": v.history_date,
                "user": v.history_user.username if v.history_user else None,
                "type": {"+": "created", "~": "changed", "-": "deleted"}[v.history_type],
                "reason": v.history_change_reason or "",
                "changes": changes,
            }
        )
        prev = v
    return timeline


def record_as_of(model: type[models.Model], pk: Any, at: datetime) -> dict[str, Any] | None:
    """The record's fields as they stood at `at` (None if it did not exist yet). NotFound for a
    key the model's pk cannot be."""
    pk = _record_pk(model, pk)
    version = (
        model.history.filter(**{model._meta.pk.attname: pk}, history_date__lte=at)
        .select_related("history_user")
        .order_by("-history_date", "-history_id")
        .first()
    )
    if version is None or version.history_type == "-":
        return None
    return {
        "version_at": version.history_date,
        "version_user": version.history_user.username if version.history_user else None,
        "reason": version.history_change_reason or "",
        "fields": [
            {
                "field": f.name,
                "label": str(f.verbose_name),
                "value": _display(getattr(version, f.attname)),
            }
            for f in model._meta.fields
            if f.attname != "password" and hasattr(version, f.attname)
        ],
    }


def activity_feed(
    *,
    user: str | None = None,
    model: str | None = None,
    date_from=None,
    date_to=None,
    object_id: str | None = None,
) -> QuerySet[ActivityEntry]:
    qs = ActivityEntry.objects.select_related("user")
    if user:
        qs = qs.filter(user__username=user)
    if model:
        app_label, _, model_name = model.partition(".")
        qs = qs.filter(app_label=app_label, model=model_name)
    if object_id:
        qs = qs.filter(object_id=object_id)
    if date_from:
        qs = qs.filter(at__date__gte=date_from)
    if date_to:
        qs = qs.filter(at__date__lte=date_to)
    return qs


def auth_events(*, kind: str | None = None, username: str | None = None) -> QuerySet[AuthEvent]:
    qs = AuthEvent.objects.select_related("user")
    if kind:
        qs = qs.filter(kind=kind)
    if username:
        qs = qs.filter(username=username)
    return qs
