"""What accounts asks of the apps above it.

A trading user sits on a desk, and desks are reference data (refdata.Desk, a layer above
accounts). refdata registers how a desk code becomes a desk (found, or created with its history
row) from its AppConfig.ready(), so accounts never imports refdata."""

from __future__ import annotations

from collections.abc import Callable

from django.core.exceptions import ImproperlyConfigured
from django.db import models

#: (actor=, code=, reason=) -> the desk with that code, created if there is none yet.
DeskSource = Callable[..., models.Model]

_desk_source: DeskSource | None = None


def register_desk_source(source: DeskSource) -> None:
    global _desk_source
    _desk_source = source


def desk_for_code(*, actor, code: str, reason: str) -> models.Model:
    if _desk_source is None:
        raise ImproperlyConfigured("No desk source registered (financing.refdata registers it).")
    return _desk_source(actor=actor, code=code, reason=reason)
