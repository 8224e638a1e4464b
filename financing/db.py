"""Field helpers shared by every app: money is NUMERIC(38,18), codes are upper-case; and the
column list hand-written statements use."""

from __future__ import annotations

from django.core.validators import RegexValidator
from django.db import connection, models

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


def columns(model: type[models.Model], alias: str) -> str:
    """The model's concrete columns as `alias."col", ...`, in field order (what Model.from_db and
    RawQuerySet expect). Hand-written SELECTs list them rather than `*`: a statement prepared
    on a connection (DB_PREPARED_STATEMENTS) fails once a migration adds a column under `*`."""
    qn = connection.ops.quote_name
    return ", ".join(f"{alias}.{qn(f.column)}" for f in model._meta.concrete_fields)
