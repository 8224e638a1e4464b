"""The serializer fields that hold the API's input conventions (financing.api.fields)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from rest_framework import serializers

from financing.api.fields import AmountField, StrictBooleanField, StrictIntegerField


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0.085", Decimal("0.085")),
        (" 12.5 ", Decimal("12.5")),
        ("-3", Decimal("-3")),
        ("0.000000000000000001", Decimal("0.000000000000000001")),
    ],
)
def test_amount_field_accepts_decimal_strings(text, expected):
    assert AmountField().to_internal_value(text) == expected


@pytest.mark.parametrize(
    "value",
    [Decimal("0.085"), 1, True, None, ["1"], "abc", "NaN", "Infinity", "0.0000000000000000001"],
    ids=["json-number", "int", "bool", "null", "list", "text", "nan", "inf", "19-places"],
)
def test_amount_field_refuses_anything_but_a_finite_decimal_string(value):
    with pytest.raises(serializers.ValidationError):
        AmountField().to_internal_value(value)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (Decimal("0.085000000000000000"), "0.085"),
        (Decimal("12.500000000000000000"), "12.5"),
        (Decimal("100"), "100"),
        (Decimal("0E-18"), "0"),
        (
            Decimal("12345678901234567890.000000000000000001"),
            "12345678901234567890.000000000000000001",
        ),
        (None, None),
    ],
)
def test_amount_field_answers_strings_without_trailing_zeros(value, text):
    assert AmountField().to_representation(value) == text


@pytest.mark.parametrize("value", [0, 18, Decimal("7"), Decimal("7.0")])
def test_strict_integer_accepts_integers(value):
    assert StrictIntegerField().to_internal_value(value) == int(value)


@pytest.mark.parametrize(
    "value",
    ["8", True, False, Decimal("8.5"), Decimal("NaN"), Decimal("Infinity"), None, [8]],
    ids=["string", "true", "false", "fraction", "nan", "inf", "null", "list"],
)
def test_strict_integer_refuses_what_is_not_a_json_integer(value):
    with pytest.raises(serializers.ValidationError):
        StrictIntegerField().to_internal_value(value)


@pytest.mark.parametrize("value", ["yes", "true", 1, 0, "on", None])
def test_strict_boolean_refuses_anything_but_true_or_false(value):
    with pytest.raises(serializers.ValidationError):
        StrictBooleanField().to_internal_value(value)


@pytest.mark.parametrize("value", [True, False])
def test_strict_boolean_accepts_true_and_false(value):
    assert StrictBooleanField().to_internal_value(value) is value
