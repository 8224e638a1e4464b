"""The field helpers every models.py imports: money is NUMERIC(38,18) (style.md), codes are
upper-case letters and digits."""

from __future__ import annotations

from django.core.validators import RegexValidator
from django.db import models

AMOUNT_DIGITS = 38
AMOUNT_PLACES = 18
CODE_REGEX = r"^[A-Z0-9][A-Z0-9_.-]{0,31}$"


def amount_field(**kwargs) -> models.DecimalField:
    """NUMERIC(38,18): amounts, prices, rates, haircuts and LTVs (style.md)."""
    return models.DecimalField(max_digits=AMOUNT_DIGITS, decimal_places=AMOUNT_PLACES, **kwargs)


code_validator = RegexValidator(
    CODE_REGEX,
    "Use 1-32 upper-case letters, digits, '.', '_' or '-', starting with a letter or digit.",
)
iso2_validator = RegexValidator(r"^[A-Z]{2}$", "Use the two-letter ISO 3166 country code, e.g. GB.")


def code_check(field: str, name: str) -> models.CheckConstraint:
    return models.CheckConstraint(condition=models.Q(**{f"{field}__regex": CODE_REGEX}), name=name)
