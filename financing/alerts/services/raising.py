"""Raising alerts: one (alert_raise) or many in one statement (alerts_raise_many). Rows only,
no network I/O; the delivery job is queued after commit."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction

from financing.alerts import registry
from financing.alerts.models import Alert, AlertEvent, AlertStatus, Severity
from financing.alerts.webhooks import is_http_url
from financing.errors import InvalidInput

DELIVERY_JOB = "deliver_alerts"
TITLE_MAX = 200
BODY_MAX = 20_000
DATA_MAX_BYTES = 64 * 1024

ALERT_TABLE = Alert._meta.db_table
EVENT_TABLE = AlertEvent._meta.db_table
#: The conflict target: the partial unique index on dedupe_key (models.ONE_LIVE_ALERT_PER_KEY).
_ON_KEY = "ON CONFLICT (dedupe_key) WHERE (NOT (status = 'resolved') AND NOT (dedupe_key = ''))"
_BUMP = (
    f"DO UPDATE SET last_seen_at = GREATEST({ALERT_TABLE}.last_seen_at, EXCLUDED.last_seen_at), "
    f"occurrences = {ALERT_TABLE}.occurrences + EXCLUDED.occurrences"
)
_COLUMNS = (
    "kind, severity, title, body, subject_type, subject_id, subject_url, dedupe_key, data, "
    "status, raised_at, last_seen_at, occurrences, resolution_note"
)


@dataclass(frozen=True)
class AlertSpec:
    """One alert to raise with alerts_raise_many: the keywords of alert_raise, minus now."""

    kind: str
    title: str
    severity: str | None = None
    body: str = ""
    subject_type: str = ""
    subject_id: str = ""
    subject_url: str = ""
    dedupe_key: str = ""
    data: dict | None = None


@dataclass(frozen=True)
class _Row:
    kind: str
    severity: str
    title: str
    body: str
    subject_type: str
    subject_id: str
    subject_url: str
    dedupe_key: str
    data: str  # JSON text


# ---------------------------------------------------------------- raising


def alert_raise(
    *,
    kind: str,
    title: str,
    now: datetime,
    severity: str | None = None,
    body: str = "",
    subject_type: str = "",
    subject_id: str = "",
    subject_url: str = "",
    dedupe_key: str = "",
    data: dict | None = None,
) -> Alert:
    """Raise an alert, or bump the live one with the same dedupe_key. Returns the new alert or
    the existing live one. Safe to call concurrently: one key, one live alert."""
    row = _clean(
        AlertSpec(
            kind=kind,
            title=title,
            severity=severity,
            body=body,
            subject_type=subject_type,
            subject_id=subject_id,
            subject_url=subject_url,
            dedupe_key=dedupe_key,
            data=data,
        )
    )
    with transaction.atomic(), connection.cursor() as cur:
        cur.execute(
            f"INSERT INTO {ALERT_TABLE} ({_COLUMNS}) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s::jsonb, 'open', %s, %s, 1, '') "
            f"{_ON_KEY} {_BUMP} RETURNING id, (xmax = 0) AS inserted",
            [
                row.kind,
                row.severity,
                row.title,
                row.body,
                row.subject_type,
                row.subject_id,
                row.subject_url,
                row.dedupe_key,
                row.data,
                now,
                now,
            ],
        )
        alert_id, inserted = cur.fetchone()
        if inserted:
            AlertEvent.objects.create(
                alert_id=alert_id, at=now, from_status="", to_status=AlertStatus.OPEN
            )
            _kick_delivery()
        return Alert.objects.get(pk=alert_id)


def alerts_raise_many(specs: list[AlertSpec], *, now: datetime) -> int:
    """Raise many alerts in one statement (INSERT ... SELECT FROM unnest ... ON CONFLICT), for
    jobs over the whole book. Specs sharing a dedupe_key count as one alert raised that many
    times (the first spec's content wins). Returns how many new alerts were opened; every spec
    is validated first, so a bad one writes nothing."""
    rows: list[_Row] = []
    counts: list[int] = []
    by_key: dict[str, int] = {}
    for spec in specs:
        row = _clean(spec)
        if row.dedupe_key and row.dedupe_key in by_key:
            counts[by_key[row.dedupe_key]] += 1
            continue
        if row.dedupe_key:
            by_key[row.dedupe_key] = len(rows)
        rows.append(row)
        counts.append(1)
    if not rows:
        return 0
    # A stable order takes the unique index's locks in the same order in concurrent runs.
    order = sorted(range(len(rows)), key=lambda i: (rows[i].dedupe_key, i))
    cols = {
        name: [getattr(rows[i], name) for i in order]
        for name in (
            "kind",
            "severity",
            "title",
            "body",
            "subject_type",
            "subject_id",
            "subject_url",
            "dedupe_key",
            "data",
        )
    }
    with transaction.atomic(), connection.cursor() as cur:
        cur.execute(
            f"""
            WITH spec AS (
                SELECT * FROM unnest(
                    %s::text[], %s::text[], %s::text[], %s::text[], %s::text[], %s::text[],
                    %s::text[], %s::text[], %s::text[], %s::int[]
                ) WITH ORDINALITY AS t(kind, severity, title, body, subject_type, subject_id,
                                      subject_url, dedupe_key, data, occurrences, n)
            ), ins AS (
                INSERT INTO {ALERT_TABLE} ({_COLUMNS})
                SELECT kind, severity, title, body, subject_type, subject_id, subject_url,
                       dedupe_key, data::jsonb, 'open', %s, %s, occurrences, ''
                FROM spec ORDER BY n
                {_ON_KEY} {_BUMP}
                RETURNING id, (xmax = 0) AS inserted
            ), events AS (
                INSERT INTO {EVENT_TABLE} (alert_id, at, actor_id, from_status, to_status, note)
                SELECT id, %s, NULL, '', 'open', '' FROM ins WHERE inserted
                RETURNING 1
            )
            SELECT count(*) FROM events
            """,
            [
                cols["kind"],
                cols["severity"],
                cols["title"],
                cols["body"],
                cols["subject_type"],
                cols["subject_id"],
                cols["subject_url"],
                cols["dedupe_key"],
                cols["data"],
                [counts[i] for i in order],
                now,
                now,
                now,
            ],
        )
        created = cur.fetchone()[0]
        if created:
            _kick_delivery()
    return created


def _clean(spec: AlertSpec) -> _Row:
    """Validate one alert's fields against the registry and the columns; InvalidInput if bad."""
    errors: dict[str, list[str]] = {}
    try:
        kind = registry.get_kind(spec.kind)
    except LookupError:
        known = ", ".join(k.name for k in registry.all_kinds()) or "none"
        errors["kind"] = [f"Unknown alert kind {spec.kind!r}; registered kinds: {known}."]
        kind = None
    severity = spec.severity or (kind.default_severity if kind else Severity.INFO)
    if severity not in Severity.values:
        errors["severity"] = [f"Severity must be one of {', '.join(Severity.values)}."]
    title = " ".join(str(spec.title or "").split())
    if not title:
        errors["title"] = ["An alert needs a title."]
    if len(title) > TITLE_MAX:
        title = title[: TITLE_MAX - 1] + "…"
    body = str(spec.body or "")
    if len(body) > BODY_MAX:
        body = body[: BODY_MAX - 1] + "…"
    for name, limit in (
        ("subject_type", 64),
        ("subject_id", 64),
        ("subject_url", 500),
        ("dedupe_key", 200),
    ):
        value = getattr(spec, name)
        if not isinstance(value, str):
            errors[name] = ["Send this as a string."]
        elif len(value) > limit:
            errors[name] = [f"At most {limit} characters."]
    url = spec.subject_url if isinstance(spec.subject_url, str) else ""
    if url and not (url.startswith("/") and not url.startswith("//")) and not is_http_url(url):
        errors["subject_url"] = ["Use a path on this site (/loans/42/) or an http(s) URL."]
    data = spec.data if spec.data is not None else {}
    if not isinstance(data, dict):
        errors["data"] = ["Alert data must be a JSON object."]
        data_text = "{}"
    else:
        try:
            data_text = json.dumps(data, cls=DjangoJSONEncoder)
        except (TypeError, ValueError) as exc:
            errors["data"] = [f"Alert data must be JSON-serialisable: {exc}."]
            data_text = "{}"
        if len(data_text.encode()) > DATA_MAX_BYTES:
            errors["data"] = [f"Alert data must be at most {DATA_MAX_BYTES} bytes of JSON."]
    if errors:
        first = next(iter(errors.values()))[0]
        raise InvalidInput(first, errors=errors)
    return _Row(
        kind=spec.kind,
        severity=severity,
        title=title,
        body=body,
        subject_type=spec.subject_type,
        subject_id=spec.subject_id,
        subject_url=spec.subject_url,
        dedupe_key=spec.dedupe_key,
        data=data_text,
    )


def _kick_delivery() -> None:
    """Queue the delivery job once per transaction, after it commits. Robust: a broker that is
    down must not fail the raise (its rows are committed; the minute schedule delivers them)."""
    pending = getattr(connection, "run_on_commit", None) or []
    if any(entry[1] is _enqueue_delivery for entry in pending):
        return
    transaction.on_commit(_enqueue_delivery, robust=True)


def _enqueue_delivery() -> None:
    from financing.jobs.models import JobRun
    from financing.jobs.tasks import job_enqueue

    job_enqueue(DELIVERY_JOB, trigger=JobRun.Trigger.EVENT, requested_by="alerts")
