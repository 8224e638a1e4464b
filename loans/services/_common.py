"""What every loan-book service shares: the row lock, the event row, the input checks."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from financing.errors import Conflict, InvalidInput
from financing.money import MAX_AMOUNT, fits_decimals
from financing.refdata.models import Asset
from loans.models import LIVE_STATUSES, Loan, LoanEvent, LoanStatus

MAX_RATE = Decimal("5")  # 500% a year: anything above is a typo, not a loan
MAX_BACKDATE_DAYS = 366
MAX_FORWARD_DAYS = 366
Kind = LoanEvent.Kind


def _locked(loan_id: int) -> Loan:
    return Loan.objects.select_for_update(of=("self",)).select_related("asset").get(pk=loan_id)


def _event(
    loan: Loan,
    kind: str,
    *,
    actor,
    now: datetime,
    reason: str = "",
    from_status: str = "",
    to_status: str = "",
    data: dict[str, Any] | None = None,
) -> LoanEvent:
    return LoanEvent.objects.create(
        loan=loan,
        kind=kind,
        actor=actor,
        at=now,
        reason=reason,
        from_status=from_status,
        to_status=to_status,
        data=data or {},
    )


def _check_amount(value: Decimal, asset: Asset, field: str, *, allow_zero: bool = False) -> None:
    if not isinstance(value, Decimal) or not value.is_finite():
        raise InvalidInput("Enter an amount.", field=field)
    if value < 0 or (value == 0 and not allow_zero):
        raise InvalidInput("The amount must be more than zero.", field=field)
    if value > MAX_AMOUNT:
        raise InvalidInput("The amount is too large.", field=field)
    if not fits_decimals(value, asset.decimals):
        raise InvalidInput(
            f"{asset.symbol} has {asset.decimals} decimals; this amount has more.", field=field
        )


def _check_rate(rate: Decimal, field: str = "rate") -> None:
    if not isinstance(rate, Decimal) or not rate.is_finite():
        raise InvalidInput("Enter a rate as a fraction, e.g. 0.085.", field=field)
    if rate < 0 or rate > MAX_RATE:
        raise InvalidInput(
            f"The rate is a yearly fraction between 0 and {MAX_RATE} (0.085 = 8.5%).", field=field
        )
    if rate != rate.quantize(Decimal("1e-10")):
        raise InvalidInput("A rate has at most 10 decimal places.", field=field)


def _require_live(loan: Loan, action: str) -> None:
    if loan.status not in LIVE_STATUSES:
        raise Conflict(
            f"Loan {loan.reference} is {LoanStatus(loan.status).label.lower()}: no {action}."
        )
