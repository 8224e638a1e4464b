"""Helpers for the few statements written by hand rather than through the ORM (style.md: the
set-based jobs, and a hot path only where the bench shows the shortcut matters). Today that
is the column list the token statement reads a user with (financing/audit/authentication.py)."""

from __future__ import annotations

from django.db import connection, models


def columns(model: type[models.Model], alias: str) -> str:
    """The model's concrete columns as `alias."col", ...`, in field order (what Model.from_db and
    RawQuerySet expect). Hand-written SELECTs list them rather than `*`: a statement prepared
    on a connection (DB_PREPARED_STATEMENTS) fails once a migration adds a column under `*`."""
    qn = connection.ops.quote_name
    return ", ".join(f"{alias}.{qn(f.column)}" for f in model._meta.concrete_fields)
