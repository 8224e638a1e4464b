"""Auth token, the current user, and /healthz."""

from __future__ import annotations

from django.contrib.auth import authenticate
from django.db import connection
from django.http import JsonResponse
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.authtoken.models import Token
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from financing import clock
from financing.accounts.roles import capabilities_of
from financing.api import health
from financing.api.base import StrictSerializer
from financing.api.signals import token_issued
from financing.celery import app
from financing.errors import DomainError


class TokenRequestSerializer(StrictSerializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=256, trim_whitespace=False)


class TokenResponseSerializer(serializers.Serializer):
    token = serializers.CharField()


class Unauthorized(DomainError):
    status_code = 401
    default_code = "unauthorized"


class TokenView(APIView):
    """POST {"username", "password"} -> {"token"}. Failed attempts count toward the lockout."""

    authentication_classes = []
    permission_classes = [AllowAny]

    @extend_schema(request=TokenRequestSerializer, responses={200: TokenResponseSerializer})
    def post(self, request):
        ser = TokenRequestSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        user = authenticate(
            request=request._request,
            username=ser.validated_data["username"],
            password=ser.validated_data["password"],
        )
        if getattr(request._request, "axes_locked_out", False):
            raise Unauthorized("Too many failed logins: this account is locked for a while.")
        if user is None or not user.is_active:
            raise Unauthorized("Unknown username or wrong password.")
        token, _ = Token.objects.get_or_create(user=user)
        token_issued.send(sender=type(self), request=request._request, user=user)
        return Response({"token": token.key})


class MeView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(responses={200: dict})
    def get(self, request):
        user = request.user
        return Response(
            {
                "username": user.username,
                "role": user.role,
                "desk": user.desk.code if user.desk_id else None,
                "capabilities": sorted(capabilities_of(user.role)),
            }
        )


def healthz(request):
    """Database, broker and the registered checks (financing.api.health: the last successful run
    of each job). 503 if a dependency is down."""
    body: dict = {"time": clock.now().isoformat()}
    ok = True
    try:
        with connection.cursor() as cur:
            cur.execute("SELECT 1")
        body["database"] = "ok"
    except Exception as exc:
        ok = False
        body["database"] = f"error: {exc.__class__.__name__}"
    body["broker"] = _broker_status()
    ok = ok and body["broker"] == "ok"
    if body["database"] == "ok":
        for check in health.checks():
            body[check.name] = check.compute(now=clock.now())
    body["status"] = "ok" if ok else "degraded"
    return JsonResponse(body, status=200 if ok else 503)


def _broker_status() -> str:
    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
        return "ok"
    except Exception as exc:
        return f"error: {exc.__class__.__name__}"
