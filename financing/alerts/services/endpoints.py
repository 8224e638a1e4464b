"""Webhook endpoint configuration (alerts.configure). The secret is stored and never shown;
changes are recorded in the endpoint's history (without the secret) and the audit feed."""

from __future__ import annotations

from datetime import datetime

from django.db import IntegrityError, transaction

from financing.accounts.roles import can
from financing.alerts import registry
from financing.alerts.models import Severity, WebhookEndpoint
from financing.alerts.webhooks import is_http_url
from financing.errors import Forbidden, InvalidInput, NotFound
from financing.history import save_stamped

ENDPOINT_FIELDS = ("name", "url", "secret", "kinds", "min_severity", "is_active")
SECRET_MIN = 16


def webhook_endpoint_create(
    *,
    actor,
    now: datetime,
    name: str,
    url: str,
    secret: str,
    kinds: list[str] | tuple[str, ...] = (),
    min_severity: str = Severity.INFO,
    is_active: bool = True,
) -> WebhookEndpoint:
    """Add a webhook receiver. Needs "alerts.configure"; the secret is stored, never shown."""
    _require_configure(actor)
    values = _clean_endpoint(
        {
            "name": name,
            "url": url,
            "secret": secret,
            "kinds": kinds,
            "min_severity": min_severity,
            "is_active": is_active,
        }
    )
    endpoint = WebhookEndpoint(**values, created_by=actor, created_at=now, updated_at=now)
    _save_endpoint(endpoint, actor=actor, reason="webhook endpoint added")
    return endpoint


def webhook_endpoint_update(
    *, endpoint_id: int, actor, now: datetime, **changes
) -> WebhookEndpoint:
    """Change some of an endpoint's fields (name, url, secret, kinds, min_severity, is_active).
    Deactivating it fails its deliveries still waiting, at their next attempt."""
    _require_configure(actor)
    unknown = sorted(set(changes) - set(ENDPOINT_FIELDS))
    if unknown:
        raise InvalidInput("Unknown field.", errors={name: ["Unknown field."] for name in unknown})
    values = _clean_endpoint(changes, partial=True)
    with transaction.atomic():
        endpoint = (
            WebhookEndpoint.objects.select_for_update(of=("self",)).filter(pk=endpoint_id).first()
        )
        if endpoint is None:
            raise NotFound(f"No webhook endpoint #{endpoint_id}.")
        for name, value in values.items():
            setattr(endpoint, name, value)
        endpoint.updated_at = now
        reason = "webhook endpoint changed: " + ", ".join(sorted(values)) if values else "touched"
        _save_endpoint(endpoint, actor=actor, reason=reason)
    return endpoint


def _require_configure(actor) -> None:
    if not can(actor, "alerts.configure"):
        raise Forbidden("Your role does not allow configuring alert webhooks.")


def _save_endpoint(endpoint: WebhookEndpoint, *, actor, reason: str) -> None:
    try:
        with transaction.atomic():
            save_stamped(endpoint, actor=actor, reason=reason)
    except IntegrityError:
        if WebhookEndpoint.objects.filter(name=endpoint.name).exclude(pk=endpoint.pk).exists():
            raise InvalidInput(
                "Another webhook endpoint already has this name.", field="name"
            ) from None
        raise


def _clean_endpoint(values: dict, *, partial: bool = False) -> dict:
    errors: dict[str, list[str]] = {}
    out: dict = {}
    for name in ENDPOINT_FIELDS:
        if name not in values:
            if not partial:
                errors[name] = ["This field is required."]
            continue
        value = values[name]
        if name in ("name", "url", "secret", "min_severity") and not isinstance(value, str):
            errors[name] = ["Send this as a string."]
            continue
        if name == "name":
            value = value.strip()
            if not value or len(value) > 100:
                errors[name] = ["Give the endpoint a name of 1 to 100 characters."]
        elif name == "url":
            value = value.strip()
            if len(value) > 500 or not is_http_url(value):
                errors[name] = ["Enter a valid http:// or https:// URL (at most 500 characters)."]
        elif name == "secret":
            if not SECRET_MIN <= len(value) <= 200:
                errors[name] = [f"The secret must be {SECRET_MIN} to 200 characters."]
        elif name == "kinds":
            if not isinstance(value, list | tuple) or not all(isinstance(k, str) for k in value):
                errors[name] = ["Send a list of alert kind names."]
                continue
            unknown = sorted({k for k in value if registry.find_kind(k) is None})
            if unknown:
                errors[name] = [f"Unknown alert kinds: {', '.join(unknown)}."]
            value = sorted(set(value))
        elif name == "min_severity":
            if value not in Severity.values:
                errors[name] = [f"Severity must be one of {', '.join(Severity.values)}."]
        elif name == "is_active" and not isinstance(value, bool):
            errors[name] = ["Send true or false."]
        out[name] = value
    if errors:
        first = next(iter(errors.values()))[0]
        raise InvalidInput(first, errors=errors)
    return out
