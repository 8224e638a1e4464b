"""Display helpers of the stress-test and concentration-limit pages. Their figures come back
from JSON (a stress run's results) as strings as well as Decimals: each helper takes either."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal

from financing.money import format_amount


def _pct2(fraction: Decimal) -> Decimal:
    """A fraction as a percentage with two places, for bars and charts (decimals, not floats)."""
    return (fraction * 100).quantize(Decimal("0.01"), ROUND_HALF_EVEN)


def _d(value) -> Decimal | None:
    if value is None or value == "":
        return None
    return value if isinstance(value, Decimal) else Decimal(str(value))


def pct(value, *, none: str = "no collateral") -> str:
    value = _d(value)
    return none if value is None else f"{format_amount(value * 100, 2)}%"


def usd(value) -> str:
    value = _d(value)
    if value is None:
        return ""
    return f"{value.quantize(Decimal('0.01'), rounding=ROUND_HALF_EVEN):,} USD"
