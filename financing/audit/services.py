"""Writes of the audit trail."""

from __future__ import annotations

from financing import clock
from financing.audit.models import ActivityEntry, AuthEvent


def client_ip(request) -> str | None:
    if request is None:
        return None
    return request.META.get("REMOTE_ADDR") or None


def auth_event_record(*, kind: str, request=None, user=None, username: str = "") -> AuthEvent:
    return AuthEvent.objects.create(
        at=clock.now(),
        kind=kind,
        user=user if user is not None and user.is_authenticated else None,
        username=(username or (user.get_username() if user is not None else ""))[:150],
        ip_address=client_ip(request),
        user_agent=(request.META.get("HTTP_USER_AGENT", "") if request is not None else "")[:300],
        method=(getattr(request, "method", None) or "")[:8],
        path=(getattr(request, "path", None) or "")[:300],
    )


def activity_record(*, history_instance, model, kind: str) -> None:
    changed: list[str] = []
    if kind == "~":
        prev = history_instance.prev_record
        if prev is not None:
            changed = [c.field for c in history_instance.diff_against(prev).changes]
    ActivityEntry.objects.create(
        at=history_instance.history_date,
        user_id=history_instance.history_user_id,
        app_label=model._meta.app_label,
        model=model._meta.model_name,
        object_id=str(getattr(history_instance, model._meta.pk.attname)),
        object_repr=str(history_instance.instance)[:200],
        history_id=history_instance.history_id,
        kind=kind,
        reason=history_instance.history_change_reason or "",
        changed_fields=changed,
    )
