"""The collateral API: shared helpers (amount strings, code look-ups)."""

from __future__ import annotations

from financing.api.fields import AmountField
from financing.errors import InvalidInput

MAX_PRICES_PER_POST = 1000
MOVEMENT_REQUEST_KINDS = [("top_up", "top_up"), ("release", "release")]
_AMOUNT = AmountField()


def _amt(value):
    return None if value is None else _AMOUNT.to_representation(value)


def _resolve(model, field: str, value, name: str):
    if value in (None, ""):
        return None
    try:
        return model.objects.get(**{f"{field}__iexact": str(value).strip()})
    except model.DoesNotExist:
        raise InvalidInput(f"Unknown {name} {value!r}.", field=name) from None


_REASON = {"max_length": 500, "required": False, "allow_blank": True, "default": ""}
