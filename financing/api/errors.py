"""One error format for the whole API (api.md): 400 {"field": [...]}, 403/404/409 {"detail"}."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, RequestDataTooBig, TooManyFieldsSent
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import status
from rest_framework.response import Response
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
    return drf_exception_handler(exc, context)
