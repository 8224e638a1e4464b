"""How the dashboards show figures and form errors: one set of helpers every app's views use
(amounts at their asset's precision, percentages, USD, status tones, form errors)."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal

from django import forms

from financing.errors import DomainError
from financing.money import format_amount, quantize_to_asset

#: The tones a badge or a figure can take (app.css styles each).
TONES = ("ok", "warn", "bad", "neutral")


def _decimal(value) -> Decimal | None:
    if value is None or value == "":
        return None
    return value if isinstance(value, Decimal) else Decimal(str(value))


def amount(value, asset) -> str:
    """An amount at the asset's precision without trailing zeros, with its asset."""
    if value is None:
        return ""
    return f"{format_amount(quantize_to_asset(value, asset.decimals))} {asset.symbol}"


def pct(value, *, places: int | None = None, none: str = "") -> str:
    """A fraction as a percentage: 0.085 -> "8.5%" (or to `places` decimals); `none` for no
    value."""
    value = _decimal(value)
    if value is None:
        return none
    return f"{format_amount(value * 100, places)}%"


def usd(value, *, none: str = "") -> str:
    """USD with thousands separators and cents (half-even): "1,234,567.89 USD"."""
    value = _decimal(value)
    if value is None:
        return none
    return f"{value.quantize(Decimal('0.01'), rounding=ROUND_HALF_EVEN):,} USD"


def tone(tones: dict, key, default: str = "neutral") -> str:
    """The tone a status takes in an app's table of tones (neutral when it names none)."""
    return tones.get(key, default)


def form_errors(form: forms.Form) -> str:
    """A form's errors in one line for a flash message: "quantity: Enter a number."."""
    return "; ".join(f"{k}: {' '.join(v)}" for k, v in form.errors.items())


def apply_domain_error(form: forms.Form, exc: DomainError) -> None:
    """Put a service's refusal on the form: on the field it names when the form has it, else
    on the form as a whole."""
    placed = False
    for field, msgs in (exc.errors or {}).items():
        target = field if field in form.fields else None
        for msg in msgs:
            form.add_error(target, msg)
            placed = True
    if not placed:
        form.add_error(None, exc.message)
