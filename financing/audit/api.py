from __future__ import annotations

from rest_framework import mixins, serializers, viewsets

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
