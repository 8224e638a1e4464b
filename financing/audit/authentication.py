"""API token authentication that records every token use in the audit trail (AuthEvent
token_used); settings.REST_FRAMEWORK names it."""

from __future__ import annotations

import functools

from django.contrib.auth import get_user_model
from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication
from rest_framework.authtoken.models import Token

from financing import clock
from financing.audit.models import AuthEvent
from financing.audit.services import client_ip
from financing.sql import columns


@functools.cache
def _token_sql() -> tuple[str, dict[str, int]]:
    """The statement (written once) and the AuthEvent column lengths it cuts values to."""
    users, event = get_user_model()._meta, AuthEvent._meta
    sql = (
        f"WITH u AS (SELECT {columns(users.model, 'u')} FROM {users.db_table} u "
        f"JOIN {Token._meta.db_table} t ON t.user_id = u.id WHERE t.key = %s), "
        f"used AS (INSERT INTO {event.db_table} "
        "(at, kind, user_id, username, ip_address, user_agent, method, path) "
        "SELECT %s, %s, u.id, u.username, %s, %s, %s, %s FROM u WHERE u.is_active) "
        "SELECT * FROM u"
    )
    return sql, {f: event.get_field(f).max_length for f in ("user_agent", "method", "path")}


class RecordingTokenAuthentication(TokenAuthentication):
    """DRF token auth that records an AuthEvent (token_used) for every request a token
    authenticates.

    Every API call pays for this, so it is one statement, written out: it reads the token's
    user and, if the user is active, inserts the event in the same round trip and the same
    commit. (As the ORM's two queries, the user's join and the event's save cost more than the
    rest of a borrow request's submit: devtools/bench/desk.py.)"""

    def authenticate(self, request):
        self._request = request._request  # DRF makes a new authenticator for every request
        return super().authenticate(request)

    def authenticate_credentials(self, key):
        users = get_user_model()._default_manager
        request = self._request
        sql, cut = _token_sql()
        params = [
            key,
            clock.now(),
            AuthEvent.Kind.TOKEN_USED,
            client_ip(request),
            request.META.get("HTTP_USER_AGENT", "")[: cut["user_agent"]],
            (request.method or "")[: cut["method"]],
            request.path[: cut["path"]],
        ]
        user = next(iter(users.raw(sql, params)), None)
        if user is None:
            raise exceptions.AuthenticationFailed(_("Invalid token."))
        if not user.is_active:
            raise exceptions.AuthenticationFailed(_("User inactive or deleted."))
        # request.auth is the Token, as DRF's own TokenAuthentication gives it (not re-read).
        return user, Token(key=key, user=user)
