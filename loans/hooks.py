"""Registries the apps above the loan book register with (style.md: a lower app never imports
a higher one; where it must hear from it or tell it something, the higher app registers here,
the way Django admin autodiscovers).

**Booking checks.** Some higher apps have a say in a booking: the collateral app's
concentration limits, for one. They register a check; `loan_book` runs every check and turns
what they flag into extra approvals on the booking and a note the checker reads. A check is
`fn(*, counterparty, asset, direction, principal, term, start_date, maturity_date, now) ->
list[BookingFlag]`. It runs inside the booking's transaction, before the approval request
exists; raising refuses the booking (and writes nothing).

**Loan-refused listeners.** When a booking is rejected or withdrawn, whoever booked the loan
may need to follow (the borrow desk refuses the request the loan was booked from and frees
its inventory). A listener is `fn(*, loan, actor, now, why) -> None`; it runs inside the
refusal's transaction, so raising undoes the refusal.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

# ---------------------------------------------------------------- booking checks


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

_BOOKING_CHECKS: list[BookingCheck] = []


def register_booking_check(fn: BookingCheck) -> BookingCheck:
    """Add a check (idempotent: registering the same function twice keeps one). Usable as a
    decorator."""
    if fn not in _BOOKING_CHECKS:
        _BOOKING_CHECKS.append(fn)
    return fn


def unregister_booking_check(fn: BookingCheck) -> None:
    if fn in _BOOKING_CHECKS:
        _BOOKING_CHECKS.remove(fn)


def booking_checks() -> list[BookingCheck]:
    """The registered checks, in registration order."""
    return list(_BOOKING_CHECKS)


def run_booking_checks(
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
    for check in _BOOKING_CHECKS:
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


# ---------------------------------------------------------------- loan-refused listeners

LoanRefusedListener = Callable[..., object]

_LOAN_REFUSED: list[LoanRefusedListener] = []


def register_loan_refused(fn: LoanRefusedListener) -> LoanRefusedListener:
    """Add a listener (idempotent: registering the same function twice keeps one). Usable as a
    decorator."""
    if fn not in _LOAN_REFUSED:
        _LOAN_REFUSED.append(fn)
    return fn


def unregister_loan_refused(fn: LoanRefusedListener) -> None:
    if fn in _LOAN_REFUSED:
        _LOAN_REFUSED.remove(fn)


def loan_refused_listeners() -> list[LoanRefusedListener]:
    """The registered listeners, in registration order."""
    return list(_LOAN_REFUSED)


def loan_refused(*, loan, actor, now: datetime, why: str) -> None:
    """Tell every registered listener, in registration order, that `loan`'s booking was
    refused. Call inside the refusal's transaction."""
    for listener in list(_LOAN_REFUSED):
        listener(loan=loan, actor=actor, now=now, why=why)
