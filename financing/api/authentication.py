from __future__ import annotations

from rest_framework.authentication import TokenAuthentication

from financing.audit.models import AuthEvent
from financing.audit.services import auth_event_record


class RecordingTokenAuthentication(TokenAuthentication):
    """DRF token auth that writes an AuthEvent for every request a token authenticates."""

    def authenticate(self, request):
        result = super().authenticate(request)
        if result is not None:
            user, _token = result
            auth_event_record(kind=AuthEvent.Kind.TOKEN_USED, request=request._request, user=user)
        return result
