"""Webhooks: the signed JSON body an endpoint receives, and the HTTP POST that sends it.

Every request carries
    Content-Type: application/json
    X-Alert-Id: <alert id>
    X-Alert-Timestamp: <unix seconds of this attempt>
    X-Alert-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<raw body>" with the secret>
A receiver recomputes the signature over the raw bytes it received (webhook_verify) and refuses
a timestamp far from its clock, so a captured request cannot be replayed later.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime
from http.client import HTTPException

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.core.validators import URLValidator

SIGNATURE_HEADER = "X-Alert-Signature"
TIMESTAMP_HEADER = "X-Alert-Timestamp"
ID_HEADER = "X-Alert-Id"
USER_AGENT = "financing-desk-alerts/1"
#: How far a receiver should accept a timestamp from its own clock, by default.
DEFAULT_TOLERANCE_SECONDS = 300
ERROR_MAX = 1000


def webhook_signature(secret: str, timestamp: int | str, body: bytes) -> str:
    """The X-Alert-Signature value: "sha256=" + hex HMAC-SHA256 of f"{timestamp}.{body}"."""
    message = f"{timestamp}.".encode() + body
    return "sha256=" + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def webhook_verify(
    secret: str,
    timestamp: int | str,
    body: bytes,
    signature: str,
    *,
    now: datetime | None = None,
    tolerance_seconds: int = DEFAULT_TOLERANCE_SECONDS,
) -> bool:
    """True when `signature` is the one `secret` gives for this timestamp and raw body (compared
    in constant time) and, when `now` is given, the timestamp is within the tolerance."""
    try:
        ts = int(str(timestamp))
    except ValueError:
        return False
    if now is not None and abs(now.timestamp() - ts) > tolerance_seconds:
        return False
    return hmac.compare_digest(webhook_signature(secret, ts, body), str(signature or ""))


def is_http_url(url: str) -> bool:
    """An absolute http:// or https:// URL (what a webhook may be posted to)."""
    try:
        URLValidator(schemes=["http", "https"])(url)
    except ValidationError:
        return False
    return True


def link(path: str) -> str:
    """An absolute link for emails and webhook bodies when ALERT_LINK_BASE_URL is set."""
    if not path or path.startswith(("http://", "https://")):
        return path
    base = (getattr(settings, "ALERT_LINK_BASE_URL", "") or "").rstrip("/")
    return base + path if base else path


def iso_utc(at: datetime | None) -> str | None:
    if at is None:
        return None
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def webhook_payload(alert) -> dict:
    return {
        "id": alert.pk,
        "kind": alert.kind,
        "severity": alert.severity,
        "status": alert.status,
        "title": alert.title,
        "body": alert.body,
        "subject": {
            "type": alert.subject_type,
            "id": alert.subject_id,
            "url": link(alert.subject_url),
        },
        "dedupe_key": alert.dedupe_key,
        "occurrences": alert.occurrences,
        "data": alert.data,
        "raised_at": iso_utc(alert.raised_at),
        "last_seen_at": iso_utc(alert.last_seen_at),
    }


def webhook_body(alert) -> bytes:
    return json.dumps(
        webhook_payload(alert), cls=DjangoJSONEncoder, separators=(",", ":"), sort_keys=True
    ).encode()


@dataclass(frozen=True)
class PostResult:
    ok: bool
    http_status: int | None
    error: str
    signature: str
    duration_ms: int


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A webhook is posted to the configured URL only: a redirect is an answer, not a hop."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


_OPENER = urllib.request.build_opener(_NoRedirects)


def webhook_post(
    *, url: str, secret: str, alert_id: int, body: bytes, timestamp: int, timeout: float
) -> PostResult:
    """POST the signed body; 2xx is delivered. Network errors and other statuses are failures
    the caller retries. Never raises for what the network does."""
    signature = webhook_signature(secret, timestamp, body)
    request = urllib.request.Request(  # noqa: S310  (the URL is validated http(s) on input)
        url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            ID_HEADER: str(alert_id),
            TIMESTAMP_HEADER: str(timestamp),
            SIGNATURE_HEADER: signature,
        },
    )
    started = time.monotonic()
    status: int | None = None
    error = ""
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            status = response.status
            response.read(ERROR_MAX)
    except urllib.error.HTTPError as exc:
        status = exc.code
        try:
            detail = exc.read(ERROR_MAX).decode("utf-8", "replace").strip()
        except (OSError, HTTPException):
            detail = ""
        error = f"HTTP {exc.code} {exc.reason}" + (f": {detail}" if detail else "")
    except urllib.error.URLError as exc:
        error = f"connection failed: {exc.reason}"
    except (TimeoutError, OSError, HTTPException, ValueError) as exc:
        error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    duration_ms = int((time.monotonic() - started) * 1000)
    ok = status is not None and 200 <= status < 300 and not error
    if status is not None and not ok and not error:
        error = f"HTTP {status}"
    return PostResult(
        ok=ok,
        http_status=status,
        error=error[:ERROR_MAX],
        signature=signature,
        duration_ms=duration_ms,
    )
