from __future__ import annotations

from django.contrib.auth import get_user_model
from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication
from rest_framework.authtoken.models import Token

from financing.audit.models import AuthEvent
from financing.audit.services import auth_event_record


class RecordingTokenAuthentication(TokenAuthentication):
    """DRF token auth that writes an AuthEvent for every request a token authenticates.

    Every API call pays for this, so it is one query for the user whose token it is (written
    out: the ORM's compilation of the join cost more than the query) and one INSERT for the
    event (financing.db.insert_row)."""

    def authenticate_credentials(self, key):
        users = get_user_model()._default_manager
        user = next(
            iter(
                users.raw(
                    f"SELECT u.* FROM {users.model._meta.db_table} u "
                    f"JOIN {Token._meta.db_table} t ON t.user_id = u.id WHERE t.key = %s",
                    [key],
                )
            ),
            None,
        )
        if user is None:
            raise exceptions.AuthenticationFailed(_("Invalid token."))
        if not user.is_active:
            raise exceptions.AuthenticationFailed(_("User inactive or deleted."))
        return user, key

    def authenticate(self, request):
        result = super().authenticate(request)
        if result is not None:
            user, _token = result
            auth_event_record(kind=AuthEvent.Kind.TOKEN_USED, request=request._request, user=user)
        return result
