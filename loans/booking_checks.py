"""Checks a higher app runs on every new loan before it goes for approval.

The loan book cannot import the apps above it (style.md), yet some of them have a say in a
booking: the collateral app's concentration limits, for one. They register a check here (the
way Django admin autodiscovers); `loan_book` runs every check and turns what they flag into
extra approvals on the booking and a note the checker reads.

A check is `fn(*, counterparty, asset, direction, principal, term, start_date, maturity_date,
now) -> list[BookingFlag]`. It runs inside the booking's transaction, before the approval
request exists; raising refuses the booking (and writes nothing).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any


@dataclass(frozen=True)
class BookingFlag:
    #: A short machine-readable name, e.g. "limit_hard:counterparty:ACME".
    code: str
    #: What the checker reads on the approval.
    message: str
    #: Approvals needed on top of the policy's (0: the flag is a note only).
    extra_approvals: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "extra_approvals": self.extra_approvals}


BookingCheck = Callable[..., list[BookingFlag]]

_CHECKS: list[BookingCheck] = []


def register(fn: BookingCheck) -> BookingCheck:
    """Add a check (idempotent: registering the same function twice keeps one). Usable as a
    decorator."""
    if fn not in _CHECKS:
        _CHECKS.append(fn)
    return fn


def unregister(fn: BookingCheck) -> None:
    if fn in _CHECKS:
        _CHECKS.remove(fn)


def registered() -> list[BookingCheck]:
    return list(_CHECKS)


def run_checks(
    *,
    counterparty,
    asset,
    direction: str,
    principal: Decimal,
    term: str,
    start_date: date,
    maturity_date: date | None,
    now: datetime,
) -> list[BookingFlag]:
    """Every registered check's flags, in registration order."""
    flags: list[BookingFlag] = []
    for check in _CHECKS:
        for flag in (
            check(
                counterparty=counterparty,
                asset=asset,
                direction=direction,
                principal=principal,
                term=term,
                start_date=start_date,
                maturity_date=maturity_date,
                now=now,
            )
            or []
        ):
            if not isinstance(flag, BookingFlag) or flag.extra_approvals < 0:
                raise TypeError(f"booking check {check!r} returned {flag!r}")
            flags.append(flag)
    return flags
