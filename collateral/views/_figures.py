"""Figures of the stress-test and concentration-limit pages. Their figures come back from JSON
(a stress run's results) as strings as well as Decimals: each helper takes either."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal


def _pct2(fraction: Decimal) -> Decimal:
    """A fraction as a percentage with two places, for bars and charts (decimals, not floats)."""
    return (fraction * 100).quantize(Decimal("0.01"), ROUND_HALF_EVEN)


def _d(value) -> Decimal | None:
    if value is None or value == "":
        return None
    return value if isinstance(value, Decimal) else Decimal(str(value))
