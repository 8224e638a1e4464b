"""How services stamp a change with who made it and why (django-simple-history).

Every app's services write through these, the lowest platform apps included, so they sit with
the core modules; the audit app reads the history rows they produce."""

from __future__ import annotations

from django.db import models


def stamp(instance: models.Model, *, actor=None, reason: str = "") -> models.Model:
    """Attach the acting user and the reason to the next history row `instance.save()` writes.

    Without an actor (a scheduled job), the history row has no user and the reason says which job.
    """
    instance._history_user = actor
    instance._change_reason = (reason or "")[:100]
    return instance


def save_stamped(instance: models.Model, *, actor=None, reason: str = "", **save_kwargs) -> None:
    stamp(instance, actor=actor, reason=reason)
    instance.save(**save_kwargs)
