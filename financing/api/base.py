"""What every API view shares: role permissions, Idempotency-Key, strict input."""

from __future__ import annotations

import hashlib

from django.db import connection, transaction
from rest_framework import serializers
from rest_framework.exceptions import APIException
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.utils.serializer_helpers import BindingDict

from financing import clock
from financing.accounts.roles import can
from financing.api.models import IdempotencyKey
from financing.errors import Conflict, InvalidInput


class RolePermission(BasePermission):
    """The view names the capability each action or method needs (`capabilities`): keyed
    by "action:METHOD" (an action answering GET and POST), action, method, or "*"."""

    message = "Your role does not allow this."

    def has_permission(self, request, view):
        if not (request.user and request.user.is_authenticated):
            return False
        if request.method == "OPTIONS":
            # Metadata describes the endpoint and changes nothing; the methods it lists are
            # only those this role may call (SimpleMetadata asks again per method, below).
            return True
        caps = getattr(view, "capabilities", {})
        action = getattr(view, "action", None) or ""
        if action == "metadata":  # SimpleMetadata probing a method on a copy of the request
            action = getattr(view, "action_map", {}).get(request.method.lower(), "")
        capability = (
            caps.get(f"{action}:{request.method}") or caps.get(action) or caps.get(request.method)
        )
        if capability is None:
            capability = caps.get("*")
        if capability is None:
            return False  # nothing declared means nobody
        return can(request.user, capability)


class _Replay(APIException):
    def __init__(self, response: Response):
        super().__init__()
        self.response = response


class IdempotencyMixin:
    """`Idempotency-Key` on a POST (api.md): the key row and the request's effect commit in one
    transaction; a retry with the same key and body gets the first response back, with another
    body a 409. A concurrent retry waits on the key's unique index until the first commits."""

    def dispatch(self, request, *args, **kwargs):
        if request.method == "POST" and request.headers.get("Idempotency-Key"):
            with transaction.atomic():
                response = super().dispatch(request, *args, **kwargs)
                if getattr(self, "_idempotency_rollback", False):
                    transaction.set_rollback(True)
                return response
        return super().dispatch(request, *args, **kwargs)

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        key = request.headers.get("Idempotency-Key")
        if request.method == "POST" and key:
            self._idempotency_claim(request, key.strip())

    def _idempotency_claim(self, request, key: str) -> None:
        if not key or len(key) > 255:
            raise InvalidInput(
                "Idempotency-Key must be 1 to 255 characters.", field="Idempotency-Key"
            )
        body = request._request.body
        fingerprint = hashlib.sha256(b"POST\n" + request.path.encode() + b"\n" + body).hexdigest()
        with connection.cursor() as cur:
            cur.execute(
                f"INSERT INTO {IdempotencyKey._meta.db_table} "
                "(user_id, key, method, path, fingerprint, created_at) "
                "VALUES (%s, %s, 'POST', %s, %s, %s) "
                "ON CONFLICT (user_id, key) DO NOTHING RETURNING id",
                [request.user.pk, key, request.path[:500], fingerprint, clock.now()],
            )
            row = cur.fetchone()
        if row is not None:
            self._idempotency_record_id = row[0]
            return
        existing = IdempotencyKey.objects.get(user=request.user, key=key)
        if existing.fingerprint != fingerprint:
            raise Conflict(
                "This Idempotency-Key was already used with a different request; "
                "use a new key for a new request."
            )
        if existing.status_code is None:
            raise Conflict("A request with this Idempotency-Key is still in progress.")
        replay = Response(existing.response_body, status=existing.status_code)
        replay["Idempotent-Replayed"] = "true"
        raise _Replay(replay)

    def handle_exception(self, exc):
        if isinstance(exc, _Replay):
            return exc.response
        return super().handle_exception(exc)

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        record_id = getattr(self, "_idempotency_record_id", None)
        if record_id is not None:
            if response.status_code >= 500 or connection.needs_rollback:
                self._idempotency_rollback = True
            else:
                IdempotencyKey.objects.filter(pk=record_id).update(
                    status_code=response.status_code, response_body=response.data
                )
        return response


class SharedFieldsSerializer(serializers.Serializer):
    """An answer-only serializer whose fields are built and bound once per class instead of
    deep-copied for every answer (DRF copies every declared field per serializer instance; on
    the borrow desk's submit and allocate that copy cost more than the rest of the answer, see
    the README's performance section). The declared fields stay the one definition: they make
    the answer (DRF's own to_representation over them) and the schema. Its fields must not
    read the serializer's context or its instance."""

    @property
    def fields(self):
        cls = type(self)
        shared = cls.__dict__.get("_shared_fields")
        if shared is None:
            prototype = cls.__new__(cls)
            serializers.Serializer.__init__(prototype)
            shared = BindingDict(prototype)
            for name, field in prototype.get_fields().items():
                shared[name] = field
            cls._shared_fields = shared
        return shared


class StrictSerializer(serializers.Serializer):
    """Refuses fields it does not know, so a typo is a 400 and not a silent no-op."""

    #: Read-only field name -> the message that says where that change is made instead.
    read_only_messages: dict[str, str] = {}

    def to_internal_value(self, data):
        if isinstance(data, dict):
            writable = {name for name, f in self.fields.items() if not f.read_only}
            errors = {
                name: [
                    self.read_only_messages.get(name, "This field is read-only.")
                    if name in self.fields
                    else "Unknown field."
                ]
                for name in sorted(set(data) - writable)
            }
            for name, value in data.items():
                field = self.fields.get(name)
                if (
                    isinstance(field, serializers.CharField | serializers.ChoiceField)
                    and value is not None
                    and not isinstance(value, str)
                ):
                    errors.setdefault(name, ["Send this as a string."])
            if errors:
                raise serializers.ValidationError(errors)
        return super().to_internal_value(data)


def accepted(approval) -> Response:
    """202 for an action that waits for a checker (api.md)."""
    return Response({"approval": approval.pk, "status": approval.status}, status=202)


def resolve_code(model, field: str, value, name: str):
    """The record a code or symbol names (case-insensitive), None for no value, or a 400 naming
    the field: how every endpoint turns `"asset": "BTC"` into an Asset."""
    if value in (None, ""):
        return None
    found = model._default_manager.filter(**{f"{field}__iexact": str(value).strip()}).first()
    if found is None:
        raise InvalidInput(f"Unknown {name} {str(value)[:40]!r}.", field=name)
    return found
