"""What /healthz reports beside the database and the broker.

An app above api registers a check here from its AppConfig.ready() (jobs reports the last run
of each job), so api never imports it. A check only reports: it runs once the database answers
and does not change the status code."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class HealthCheck:
    #: The key of this check's report in the /healthz body.
    name: str
    #: compute(now=) -> a JSON-serialisable report.
    compute: Callable[..., Any]


_CHECKS: dict[str, HealthCheck] = {}


def register(check: HealthCheck) -> HealthCheck:
    _CHECKS[check.name] = check
    return check


def checks() -> list[HealthCheck]:
    return sorted(_CHECKS.values(), key=lambda c: c.name)
