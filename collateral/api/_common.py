"""The collateral API: shared helpers (amount strings, code look-ups)."""

from __future__ import annotations

from financing.api.base import resolve_code as _resolve  # noqa: F401 - shared by the API modules
from financing.api.fields import amount_text as _amt  # noqa: F401

MAX_PRICES_PER_POST = 1000
MOVEMENT_REQUEST_KINDS = [("top_up", "top_up"), ("release", "release")]


_REASON = {"max_length": 500, "required": False, "allow_blank": True, "default": ""}
