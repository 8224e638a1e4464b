"""Decimal helpers. Money is Decimal from strings, never float; every quantize names its rounding."""

from __future__ import annotations

import decimal
from decimal import ROUND_HALF_EVEN, Decimal

PRECISION = 50
#: Intermediate values (daily accruals, valuations) keep 18 places (domain.md).
INTERMEDIATE_PLACES = 18
_INTERMEDIATE = Decimal(1).scaleb(-INTERMEDIATE_PLACES)


def widen_decimal_context() -> None:
    """Precision 50 for this thread and every thread started after this call."""
    decimal.DefaultContext.prec = PRECISION
    decimal.DefaultContext.rounding = ROUND_HALF_EVEN
    decimal.getcontext().prec = PRECISION
    decimal.getcontext().rounding = ROUND_HALF_EVEN


def to_decimal(value: str | int | Decimal) -> Decimal:
    """Parse an amount; floats are refused because they have already lost precision."""
    if isinstance(value, float):
        raise TypeError("floats are not accepted for amounts; pass a string")
    result = Decimal(value)
    if not result.is_finite():
        raise decimal.InvalidOperation(f"{value!r} is not a finite amount")
    return result


def quantize_intermediate(value: Decimal) -> Decimal:
    """Round an intermediate figure to 18 places, half-even (domain.md)."""
    return value.quantize(_INTERMEDIATE, rounding=ROUND_HALF_EVEN)


def quantize_to_asset(value: Decimal, decimals: int, rounding: str = ROUND_HALF_EVEN) -> Decimal:
    """Round to an asset's own precision (8 for BTC, 18 for ETH, 6 for USDC)."""
    return value.quantize(Decimal(1).scaleb(-decimals), rounding=rounding)


def format_amount(value: Decimal | None, decimals: int | None = None) -> str:
    """A display string without exponent notation, trimmed to the asset's decimals if given."""
    if value is None:
        return ""
    if decimals is not None:
        value = quantize_to_asset(value, decimals)
    text = format(value, "f")
    if "." in text and decimals is None:
        text = text.rstrip("0").rstrip(".")
    return text
