"""Serializer fields that hold the API's conventions: amounts are decimal strings."""

from __future__ import annotations

from decimal import Decimal

from rest_framework import serializers

from financing.fields import AMOUNT_DIGITS, AMOUNT_PLACES


class AmountField(serializers.DecimalField):
    """A decimal that must arrive as a string ("0.085"), never a JSON number, and is answered
    as a string. NUMERIC(38,18) bounds it."""

    default_error_messages = {
        "not_a_string": 'Send this as a decimal string, e.g. "0.085", not a JSON number.',
    }

    def __init__(self, **kwargs):
        kwargs.setdefault("max_digits", AMOUNT_DIGITS)
        kwargs.setdefault("decimal_places", AMOUNT_PLACES)
        kwargs.setdefault("coerce_to_string", True)
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, str):
            self.fail("not_a_string")
        return super().to_internal_value(data.strip())

    def to_representation(self, value):
        if value is None:
            return None
        text = super().to_representation(value)
        # Trailing zeros of NUMERIC(38,18) say nothing: "0.085", not "0.085000000000000000".
        if "." in text:
            text = text.rstrip("0").rstrip(".")
        return text


class StrictIntegerField(serializers.IntegerField):
    """A JSON integer: booleans, strings and fractional numbers are refused, not coerced."""

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int | Decimal):
            self.fail("invalid")
        if isinstance(data, Decimal) and (not data.is_finite() or data != data.to_integral()):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictBooleanField(serializers.BooleanField):
    """true/false only: "yes", 1 or "on" are refused rather than guessed."""

    def to_internal_value(self, data):
        if not isinstance(data, bool):
            self.fail("invalid", input=data)
        return data


_AMOUNT = AmountField()


def amount_text(value) -> str | None:
    """A decimal as the API writes it (a string without trailing zeros), or None: for payloads
    built by hand rather than by a serializer field."""
    return None if value is None else _AMOUNT.to_representation(value)


_DATETIME = serializers.DateTimeField()


def datetime_text(value) -> str | None:
    """A time as the API writes it (ISO 8601 in UTC, "Z"), or None: for payloads built by hand."""
    return None if value is None else _DATETIME.to_representation(value)
