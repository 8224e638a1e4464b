"""DomainError: what a service raises when a business rule refuses an action.

Mapped once to an HTTP status by the API's exception handler (financing.api.errors) and shown
as a message on pages. `errors` maps field names to messages for 400 bodies.
"""

from __future__ import annotations

from typing import ClassVar

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError


class DomainError(Exception):
    status_code: ClassVar[int] = 400
    default_code: ClassVar[str] = "invalid"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        field: str | None = None,
        errors: dict[str, list[str]] | None = None,
    ):
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.field = field
        self.errors = errors or ({field: [message]} if field else {})

    def as_body(self) -> dict:
        """The JSON body api.md prescribes: field errors for 400, {"detail"} otherwise."""
        if self.status_code == 400 and self.errors:
            return self.errors
        return {"detail": self.message}


class InvalidInput(DomainError):
    status_code = 400
    default_code = "invalid"

    @classmethod
    def from_django(cls, exc: ValidationError) -> InvalidInput:
        if hasattr(exc, "error_dict"):
            errors = {
                ("detail" if key == NON_FIELD_ERRORS else key): [str(m) for e in errs for m in e]
                for key, errs in exc.error_dict.items()
            }
        else:
            errors = {"detail": [str(m) for m in exc.messages]}
        first = next(iter(errors.values()))[0]
        return cls(first, errors=errors)


class Forbidden(DomainError):
    status_code = 403
    default_code = "forbidden"


class NotFound(DomainError):
    status_code = 404
    default_code = "not_found"


class Conflict(DomainError):
    status_code = 409
    default_code = "conflict"
