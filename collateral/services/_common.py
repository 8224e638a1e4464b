"""Collateral services: shared checks (capabilities, fractions, quantities) and bounds."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal
from typing import Any

from financing.accounts.roles import can
from financing.errors import Forbidden, InvalidInput
from financing.money import MAX_AMOUNT, fits_decimals
from financing.refdata.models import Asset

MAX_PRICE = MAX_AMOUNT
#: A movement or a holding past this many units is a typo, not collateral (and NUMERIC(38,18)
#: must hold its value in USD).
MAX_QUANTITY = MAX_AMOUNT
#: A price dated further ahead than this is a clock error, not a price.
FUTURE_TOLERANCE = timedelta(minutes=2)
MAX_PRICE_AGE = timedelta(days=30)
SOURCE_RE = re.compile(r"^[a-z0-9][a-z0-9_.:-]{0,63}$")
MANUAL = "manual"


def _require(actor, capability: str, what: str) -> None:
    if not can(actor, capability):
        raise Forbidden(f"Your role may not {what}.")


def _check_fraction(value: Any, field: str, *, low: Decimal, high: Decimal) -> Decimal:
    if not isinstance(value, Decimal) or not value.is_finite():
        raise InvalidInput('A decimal fraction, as a string ("0.10" = 10%).', field=field)
    if not low <= value <= high:
        raise InvalidInput(f"Between {low} and {high}.", field=field)
    return value


def _check_quantity(quantity: Any, asset: Asset, field: str = "quantity") -> Decimal:
    if not isinstance(quantity, Decimal) or not quantity.is_finite():
        raise InvalidInput("A decimal quantity, as a string.", field=field)
    if quantity <= 0:
        raise InvalidInput("Must be above zero.", field=field)
    if quantity > MAX_QUANTITY:
        raise InvalidInput("Implausibly large.", field=field)
    if not fits_decimals(quantity, asset.decimals):
        raise InvalidInput(
            f"{asset.symbol} has {asset.decimals} decimals; {quantity} has more.", field=field
        )
    return quantity
