"""One error format for the whole API (api.md): 400 {"field": [...]}, 403/404/409 {"detail"}."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, RequestDataTooBig, TooManyFieldsSent
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import status
from rest_framework.exceptions import ValidationError as DRFValidationError
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import exception_handler as drf_exception_handler

from financing.errors import DomainError, InvalidInput


def exception_handler(exc, context):
    if isinstance(exc, DomainError):
        return Response(exc.as_body(), status=exc.status_code)
    if isinstance(exc, DjangoValidationError):
        err = InvalidInput.from_django(exc)
        return Response(err.as_body(), status=400)
    if isinstance(exc, RequestDataTooBig | TooManyFieldsSent):
        return Response(
            {"detail": "The request body is too large."}, status=status.HTTP_400_BAD_REQUEST
        )
    if isinstance(exc, Http404):
        return Response({"detail": "Not found."}, status=status.HTTP_404_NOT_FOUND)
    if isinstance(exc, PermissionDenied):
        return Response({"detail": str(exc) or "Forbidden."}, status=status.HTTP_403_FORBIDDEN)
    response = drf_exception_handler(exc, context)
    if isinstance(exc, DRFValidationError) and response is not None:
        _non_field_errors_as_detail(response)
    return response


def _non_field_errors_as_detail(response: Response) -> None:
    """DRF names errors that belong to no field (a body that is not a JSON object, say)
    "non_field_errors"; this API calls them "detail", as InvalidInput.from_django does."""
    data = response.data
    key = api_settings.NON_FIELD_ERRORS_KEY
    if isinstance(data, dict) and key in data and key != "detail":
        messages = data.pop(key)
        existing = data.get("detail")
        if existing is None:
            data["detail"] = messages
        else:
            data["detail"] = [*(existing if isinstance(existing, list) else [existing]), *messages]
