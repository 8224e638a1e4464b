"""Treasury services: shared checks (capability, amounts, times) and bounds."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from financing.accounts.roles import can
from financing.errors import Forbidden, InvalidInput
from financing.money import MAX_AMOUNT, fits_decimals
from financing.refdata.models import Asset

#: A balance dated further ahead than this is a clock error, not a balance.
FUTURE_TOLERANCE = timedelta(minutes=2)
SOURCE_RE = re.compile(r"^[a-z0-9][a-z0-9_.:-]{0,63}$")
MAX_BALANCES_PER_CALL = 10_000


def _require(actor, what: str) -> None:
    if not can(actor, "treasury.manage"):
        raise Forbidden(f"Your role may not {what}.")


def _check_amount(amount: Any, asset: Asset, field: str) -> Decimal:
    """A non-negative decimal that fits the asset's own precision."""
    if isinstance(amount, bool) or not isinstance(amount, Decimal) or not amount.is_finite():
        raise InvalidInput("A decimal amount, as a string.", field=field)
    if amount < 0:
        raise InvalidInput("Must not be negative.", field=field)
    if amount > MAX_AMOUNT:
        raise InvalidInput("Implausibly large.", field=field)
    if not fits_decimals(amount, asset.decimals):
        raise InvalidInput(
            f"{asset.symbol} has {asset.decimals} decimals; {amount} has more.", field=field
        )
    return amount


def _check_as_of(as_of: Any, now: datetime, field: str = "as_of") -> datetime:
    if not isinstance(as_of, datetime):
        raise InvalidInput(
            "An ISO 8601 time with its offset, e.g. 2026-11-20T00:00:00Z.", field=field
        )
    if as_of.tzinfo is None or as_of.utcoffset() is None:
        raise InvalidInput("Give the time with its UTC offset (e.g. ...Z).", field=field)
    as_of = as_of.astimezone(UTC)
    if as_of > now + FUTURE_TOLERANCE:
        raise InvalidInput(
            "In the future: a balance is what was held, not what will be.", field=field
        )
    if as_of.year < 2000:
        raise InvalidInput("Implausibly old.", field=field)
    return as_of
