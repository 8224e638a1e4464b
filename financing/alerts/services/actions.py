"""What people (and the system) do with an alert: acknowledge it, resolve it. Every move goes
along models.TRANSITIONS and writes an AlertEvent in the same transaction."""

from __future__ import annotations

from datetime import datetime

from django.db import connection, transaction

from financing.accounts.roles import can
from financing.alerts.models import TRANSITIONS, Alert, AlertEvent, AlertStatus
from financing.alerts.services.raising import ALERT_TABLE, EVENT_TABLE
from financing.errors import Conflict, Forbidden, InvalidInput, NotFound

NOTE_MAX = 2_000


def alert_transition(
    *, alert: Alert, to_status: str, actor, now: datetime, note: str = ""
) -> Alert:
    """Move a locked alert along TRANSITIONS and write its event row, in the caller's
    transaction. A move the map does not allow is a Conflict."""
    if to_status not in TRANSITIONS.get(alert.status, frozenset()):
        raise Conflict(
            f"Alert #{alert.pk} is {alert.get_status_display().lower()}; "
            f"it cannot become {AlertStatus(to_status).label.lower()}."
        )
    from_status = alert.status
    alert.status = to_status
    fields = ["status"]
    if to_status == AlertStatus.ACKNOWLEDGED:
        alert.acknowledged_by = actor
        alert.acknowledged_at = now
        fields += ["acknowledged_by", "acknowledged_at"]
    elif to_status == AlertStatus.RESOLVED:
        alert.resolved_by = actor
        alert.resolved_at = now
        alert.resolution_note = note
        fields += ["resolved_by", "resolved_at", "resolution_note"]
    alert.save(update_fields=fields)
    AlertEvent.objects.create(
        alert=alert, at=now, actor=actor, from_status=from_status, to_status=to_status, note=note
    )
    return alert


def alert_acknowledge(*, alert_id: int, user, now: datetime, note: str = "") -> Alert:
    """A person takes an open alert on. Already acknowledged or resolved: 409."""
    if not can(user, "alerts.act"):
        raise Forbidden("Your role does not allow acting on alerts.")
    note = _clean_note(note)
    with transaction.atomic():
        alert = Alert.objects.select_for_update(of=("self",)).filter(pk=alert_id).first()
        if alert is None:
            raise NotFound(f"No alert #{alert_id}.")
        return alert_transition(
            alert=alert, to_status=AlertStatus.ACKNOWLEDGED, actor=user, now=now, note=note
        )


def alerts_resolve(
    *,
    dedupe_key: str | None = None,
    dedupe_prefix: str | None = None,
    alert_id: int | None = None,
    user=None,
    now: datetime,
    note: str = "",
) -> int:
    """Resolve live alerts chosen by exactly one of dedupe_key, dedupe_prefix or alert_id, in
    one UPDATE with their event rows. Without a user it is the system clearing a condition
    (idempotent: nothing live, 0). A user needs "alerts.act", and resolving one alert by id
    that is already resolved is a 409 for them. Returns how many alerts were resolved."""
    chosen = [v is not None for v in (dedupe_key, dedupe_prefix, alert_id)]
    if sum(chosen) != 1:
        raise InvalidInput("Name exactly one of dedupe_key, dedupe_prefix or alert_id.")
    if user is not None and not can(user, "alerts.act"):
        raise Forbidden("Your role does not allow acting on alerts.")
    note = _clean_note(note)
    if dedupe_key is not None:
        if not dedupe_key:
            raise InvalidInput("dedupe_key must not be empty.", field="dedupe_key")
        where, params = "dedupe_key = %s", [dedupe_key]
    elif dedupe_prefix is not None:
        if not dedupe_prefix:
            raise InvalidInput("dedupe_prefix must not be empty.", field="dedupe_prefix")
        escaped = dedupe_prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        where, params = "dedupe_key LIKE %s", [escaped + "%"]
    else:
        where, params = "id = %s", [int(alert_id)]
    resolvable = [s for s, targets in TRANSITIONS.items() if AlertStatus.RESOLVED in targets]
    actor_id = user.pk if user is not None else None
    with transaction.atomic(), connection.cursor() as cur:
        # The FOR UPDATE subquery reads each row's status before the move, for its event row;
        # a row another transaction resolves first is re-checked and left out.
        cur.execute(
            f"""
            WITH before AS (
                SELECT id, status FROM {ALERT_TABLE}
                WHERE status = ANY(%s) AND {where}
                ORDER BY id FOR UPDATE
            ), moved AS (
                UPDATE {ALERT_TABLE} a
                SET status = 'resolved', resolved_at = %s, resolved_by_id = %s,
                    resolution_note = %s
                FROM before WHERE a.id = before.id
                RETURNING a.id, before.status AS from_status
            ), events AS (
                INSERT INTO {EVENT_TABLE} (alert_id, at, actor_id, from_status, to_status, note)
                SELECT id, %s, %s, from_status, 'resolved', %s FROM moved
                RETURNING 1
            )
            SELECT count(*) FROM events
            """,
            [resolvable, *params, now, actor_id, note, now, actor_id, note],
        )
        resolved = cur.fetchone()[0]
    if alert_id is not None and not resolved:
        status = Alert.objects.filter(pk=alert_id).values_list("status", flat=True).first()
        if status is None:
            raise NotFound(f"No alert #{alert_id}.")
        if user is not None:
            raise Conflict(f"Alert #{alert_id} is already {status}.")
    return resolved


def _clean_note(note) -> str:
    if note is None:
        return ""
    if not isinstance(note, str):
        raise InvalidInput("Send the note as a string.", field="note")
    if len(note) > NOTE_MAX:
        raise InvalidInput(f"A note is at most {NOTE_MAX} characters.", field="note")
    return note.strip()
