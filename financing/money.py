"""Decimal helpers. Money is Decimal from strings, never float; every quantize names its rounding."""

from __future__ import annotations

import decimal
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Decimal

PRECISION = 50
#: Intermediate values (daily accruals, valuations) keep 18 places (domain.md).
INTERMEDIATE_PLACES = 18
_INTERMEDIATE = Decimal(1).scaleb(-INTERMEDIATE_PLACES)
#: The largest amount a service accepts (a principal, a balance, a quantity, a price in USD, a
#: limit): anything above is a typo, not business. It is also what keeps a product of two of
#: them (a quantity valued at a price) inside NUMERIC(38,18).
MAX_AMOUNT = Decimal("1e15")


def widen_decimal_context() -> None:
    """Precision 50 for this thread and every thread started after this call."""
    decimal.DefaultContext.prec = PRECISION
    decimal.DefaultContext.rounding = ROUND_HALF_EVEN
    decimal.getcontext().prec = PRECISION
    decimal.getcontext().rounding = ROUND_HALF_EVEN


def quantize_intermediate(value: Decimal) -> Decimal:
    """Round an intermediate figure to 18 places, half-even (domain.md)."""
    return value.quantize(_INTERMEDIATE, rounding=ROUND_HALF_EVEN)


def quantize_to_asset(value: Decimal, decimals: int, rounding: str = ROUND_HALF_EVEN) -> Decimal:
    """Round to an asset's own precision (8 for BTC, 18 for ETH, 6 for USDC)."""
    return value.quantize(Decimal(1).scaleb(-decimals), rounding=rounding)


def fits_decimals(value: Decimal, decimals: int) -> bool:
    """Whether `value` has at most `decimals` places (an amount in an asset's own precision).
    Check MAX_AMOUNT first: quantizing an absurdly large value overflows the context."""
    return value == value.quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_DOWN)


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
