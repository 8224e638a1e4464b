"""The one place the clock is read: services call now() once and pass it down, so tests can
freeze it. The business date D runs from 00:00 UTC on D to 00:00 UTC on D+1 (domain.md)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from django.utils import timezone


def now() -> datetime:
    return timezone.now().astimezone(UTC)


def business_date(at: datetime | None = None) -> date:
    return (at or now()).astimezone(UTC).date()


def yesterday(at: datetime | None = None) -> date:
    return business_date(at) - timedelta(days=1)
