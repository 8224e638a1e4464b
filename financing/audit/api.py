"""The audit trail over REST: the activity feed, the auth events, and the history action every
record's viewset mixes in (HistoryMixin)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action

from financing.api.base import RolePermission
from financing.audit import selectors
from financing.audit.models import ActivityEntry, AuthEvent


class ActivitySerializer(serializers.ModelSerializer):
    user = serializers.CharField(source="user.username", default=None)
    model = serializers.SerializerMethodField()
    kind = serializers.CharField(source="get_kind_display")

    class Meta:
        model = ActivityEntry
        fields = [
            "id",
            "at",
            "user",
            "model",
            "object_id",
            "object_repr",
            "kind",
            "reason",
            "changed_fields",
            "history_id",
        ]

    def get_model(self, obj) -> str:
        return f"{obj.app_label}.{obj.model}"


class AuthEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = AuthEvent
        fields = ["id", "at", "kind", "username", "ip_address", "user_agent", "method", "path"]


class ActivityFilterSerializer(serializers.Serializer):
    user = serializers.CharField(required=False)
    model = serializers.RegexField(r"^[a-z_]+\.[a-z_]+$", required=False)
    object_id = serializers.CharField(required=False)
    date_from = serializers.DateField(required=False)
    date_to = serializers.DateField(required=False)


class ActivityViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """The global activity feed: every change to every business record."""

    serializer_class = ActivitySerializer
    permission_classes = [RolePermission]
    capabilities = {"list": "audit.view"}
    filter_backends = []

    def get_queryset(self):
        f = ActivityFilterSerializer(data=self.request.query_params)
        f.is_valid(raise_exception=True)
        return selectors.activity_feed(**f.validated_data)


class AuthEventViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    serializer_class = AuthEventSerializer
    permission_classes = [RolePermission]
    capabilities = {"list": "audit.auth_events"}
    filterset_fields = ["kind", "username"]

    def get_queryset(self):
        return selectors.auth_events()


_CHANGES = inline_serializer(
    "HistoryChange",
    {
        "field": serializers.CharField(),
        "label": serializers.CharField(),
        "old": serializers.JSONField(allow_null=True),
        "new": serializers.JSONField(allow_null=True),
    },
    many=True,
)
_VERSIONS = inline_serializer(
    "HistoryVersion",
    {
        "history_id": serializers.IntegerField(),
        "at": serializers.DateTimeField(),
        "user": serializers.CharField(allow_null=True),
        "type": serializers.ChoiceField(choices=["created", "changed", "deleted"]),
        "reason": serializers.CharField(),
        "changes": _CHANGES,
    },
    many=True,
)


class HistoryMixin:
    """GET <detail>/history/: every version of the record, oldest first, who, when, why and what
    changed; paginated like every list ({"count", "next", "previous", "results"}, ?page=)."""

    @extend_schema(
        responses={200: _VERSIONS},
        summary="Every version of this record",
    )
    @action(detail=True, methods=["get"], filter_backends=[])
    def history(self, request, *args, **kwargs):
        obj = self.get_object()
        timeline = selectors.record_timeline(type(obj), obj.pk)
        page = self.paginate_queryset(timeline)
        return self.get_paginated_response(page)
