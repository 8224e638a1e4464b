"""Alerts over REST: list and read alerts, acknowledge and resolve them, read the delivery log,
and configure webhook endpoints. Validate, call one service or selector, serialize."""

from __future__ import annotations

import django_filters
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from financing import clock
from financing.alerts import registry, selectors, services
from financing.alerts.display import delivery_target
from financing.alerts.models import (
    LIVE_STATUSES,
    Alert,
    AlertDelivery,
    AlertDeliveryAttempt,
    AlertEvent,
    AlertStatus,
    Channel,
    DeliveryStatus,
    Severity,
    WebhookEndpoint,
)
from financing.api.base import IdempotencyMixin, RolePermission, StrictSerializer
from financing.api.fields import StrictBooleanField

LIVE = "live"
#: min_severity travels as a plain string (the service validates it): the same choices as
#: `severity` under a second name would give one enum two names in the schema.
MIN_SEVERITY_HELP = (
    "The lowest severity sent to this endpoint: info, warning or critical (the alert's severity)."
)

# ---------------------------------------------------------------- representations


class AlertSubjectSerializer(serializers.Serializer):
    type = serializers.CharField(source="subject_type")
    id = serializers.CharField(source="subject_id")
    url = serializers.CharField(source="subject_url")


class AlertDeliveryAttemptSerializer(serializers.ModelSerializer):
    class Meta:
        model = AlertDeliveryAttempt
        fields = ["number", "at", "duration_ms", "ok", "http_status", "error", "signature"]
        read_only_fields = fields


class AlertDeliverySerializer(serializers.ModelSerializer):
    target = serializers.SerializerMethodField()
    endpoint = serializers.CharField(source="endpoint.name", allow_null=True, default=None)
    alert_kind = serializers.CharField(source="alert.kind", read_only=True)
    attempt_log = AlertDeliveryAttemptSerializer(many=True, read_only=True)

    class Meta:
        model = AlertDelivery
        fields = [
            "id",
            "alert",
            "alert_kind",
            "channel",
            "target",
            "endpoint",
            "status",
            "attempts",
            "next_attempt_at",
            "last_error",
            "created_at",
            "delivered_at",
            "attempt_log",
        ]
        read_only_fields = fields

    def get_target(self, delivery) -> str:
        """The email address, or the webhook URL (scheme and host only unless the caller
        configures webhooks: URLs often carry a token)."""
        return delivery_target(delivery, self.context["request"].user)


class AlertEventSerializer(serializers.ModelSerializer):
    actor = serializers.CharField(source="actor.username", allow_null=True, default=None)
    # A plain string: its values are the alert's status values (one enum, one name, in the schema).
    to_status = serializers.CharField(read_only=True)

    class Meta:
        model = AlertEvent
        fields = ["at", "actor", "from_status", "to_status", "note"]
        read_only_fields = fields


class AlertSerializer(serializers.ModelSerializer):
    """One alert, the same in the list and on its own: with its status events and its
    deliveries (each with its attempts)."""

    kind_label = serializers.CharField(read_only=True)
    subject = AlertSubjectSerializer(source="*", read_only=True)
    acknowledged_by = serializers.CharField(
        source="acknowledged_by.username", allow_null=True, default=None
    )
    resolved_by = serializers.SerializerMethodField()
    concerns_me = serializers.SerializerMethodField()
    events = AlertEventSerializer(many=True, read_only=True)
    deliveries = AlertDeliverySerializer(many=True, read_only=True)

    class Meta:
        model = Alert
        fields = [
            "id",
            "kind",
            "kind_label",
            "severity",
            "status",
            "title",
            "body",
            "subject",
            "dedupe_key",
            "data",
            "raised_at",
            "last_seen_at",
            "occurrences",
            "acknowledged_by",
            "acknowledged_at",
            "resolved_by",
            "resolved_at",
            "resolution_note",
            "concerns_me",
            "events",
            "deliveries",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_resolved_by(self, alert) -> str | None:
        """The user who resolved the alert, "system" when a job cleared it, null while live."""
        if alert.resolved_at is None:
            return None
        return alert.resolved_by.username if alert.resolved_by_id else "system"

    def get_concerns_me(self, alert) -> bool:
        """Whether the alert's kind concerns the caller's role (highlighted, emailed)."""
        request = self.context.get("request")
        kind = registry.find_kind(alert.kind)
        return bool(kind and request and kind.concerns(getattr(request.user, "role", None)))


class AlertNoteSerializer(StrictSerializer):
    note = serializers.CharField(
        max_length=services.NOTE_MAX, required=False, allow_blank=True, default=""
    )


class WebhookEndpointSerializer(serializers.ModelSerializer):
    min_severity = serializers.CharField(read_only=True, help_text=MIN_SEVERITY_HELP)
    created_by = serializers.CharField(source="created_by.username", allow_null=True, default=None)
    has_secret = serializers.SerializerMethodField()

    class Meta:
        model = WebhookEndpoint
        fields = [
            "id",
            "name",
            "url",
            "kinds",
            "min_severity",
            "is_active",
            "has_secret",
            "created_by",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def get_has_secret(self, endpoint) -> bool:
        """The secret itself is write-only: never returned."""
        return bool(endpoint.secret)


class WebhookEndpointCreateSerializer(StrictSerializer):
    name = serializers.CharField(max_length=100)
    url = serializers.CharField(max_length=500)
    secret = serializers.CharField(
        min_length=services.SECRET_MIN, max_length=200, write_only=True, trim_whitespace=False
    )
    kinds = serializers.ListField(
        child=serializers.CharField(max_length=64), max_length=200, required=False, default=list
    )
    min_severity = serializers.CharField(
        max_length=16, default=Severity.INFO, help_text=MIN_SEVERITY_HELP
    )
    is_active = StrictBooleanField(required=False, default=True)


class WebhookEndpointUpdateSerializer(StrictSerializer):
    name = serializers.CharField(max_length=100, required=False)
    url = serializers.CharField(max_length=500, required=False)
    secret = serializers.CharField(
        min_length=services.SECRET_MIN,
        max_length=200,
        write_only=True,
        required=False,
        trim_whitespace=False,
    )
    kinds = serializers.ListField(
        child=serializers.CharField(max_length=64), max_length=200, required=False
    )
    min_severity = serializers.CharField(max_length=16, required=False, help_text=MIN_SEVERITY_HELP)
    is_active = StrictBooleanField(required=False)


# ---------------------------------------------------------------- filters


class AlertFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(
        choices=[(LIVE, "Open or acknowledged"), *AlertStatus.choices], method="filter_status"
    )
    severity = django_filters.ChoiceFilter(choices=Severity.choices)
    kind = django_filters.CharFilter()
    subject_type = django_filters.CharFilter()
    subject_id = django_filters.CharFilter()
    raised_after = django_filters.IsoDateTimeFilter(field_name="raised_at", lookup_expr="gte")
    raised_before = django_filters.IsoDateTimeFilter(field_name="raised_at", lookup_expr="lt")

    class Meta:
        model = Alert
        fields = []

    def filter_status(self, queryset, name, value):
        if value == LIVE:
            return queryset.filter(status__in=LIVE_STATUSES)
        return queryset.filter(status=value)


class DeliveryFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=DeliveryStatus.choices)
    channel = django_filters.ChoiceFilter(choices=Channel.choices)
    alert = django_filters.NumberFilter(field_name="alert_id")
    kind = django_filters.CharFilter(field_name="alert__kind")

    class Meta:
        model = AlertDelivery
        fields = []


# ---------------------------------------------------------------- views


class AlertViewSet(
    IdempotencyMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """Alerts raised by the product (margin calls, stale prices, limit breaches, ...), newest
    first. `?status=live` lists the open and acknowledged ones."""

    permission_classes = [RolePermission]
    filterset_class = AlertFilter
    ordering_fields = ["raised_at", "last_seen_at", "occurrences"]
    lookup_value_regex = r"\d+"
    capabilities = {
        "list": "alerts.view",
        "retrieve": "alerts.view",
        "acknowledge": "alerts.act",
        "resolve": "alerts.act",
    }

    serializer_class = AlertSerializer

    def get_queryset(self):
        return selectors.alert_detail()

    def _answer(self, pk):
        return Response(self.get_serializer(self.get_queryset().get(pk=pk)).data)

    @extend_schema(request=AlertNoteSerializer, responses={200: AlertSerializer})
    @action(detail=True, methods=["post"])
    def acknowledge(self, request, pk=None):
        """Take an open alert on. Already acknowledged or resolved: 409."""
        ser = AlertNoteSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        services.alert_acknowledge(
            alert_id=int(pk), user=request.user, now=clock.now(), note=ser.validated_data["note"]
        )
        return self._answer(pk)

    @extend_schema(request=AlertNoteSerializer, responses={200: AlertSerializer})
    @action(detail=True, methods=["post"])
    def resolve(self, request, pk=None):
        """Resolve an open or acknowledged alert. Already resolved: 409."""
        ser = AlertNoteSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        services.alerts_resolve(
            alert_id=int(pk), user=request.user, now=clock.now(), note=ser.validated_data["note"]
        )
        return self._answer(pk)


class AlertDeliveryViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """The delivery log: every email and webhook delivery with each attempt."""

    serializer_class = AlertDeliverySerializer
    permission_classes = [RolePermission]
    filterset_class = DeliveryFilter
    ordering_fields = ["created_at", "next_attempt_at"]
    lookup_value_regex = r"\d+"
    capabilities = {"list": "alerts.view", "retrieve": "alerts.view"}

    def get_queryset(self):
        return selectors.deliveries_list()


class WebhookEndpointViewSet(
    IdempotencyMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    """Webhook receivers of alerts. The secret is write-only: set it on create, rotate it with
    PATCH; it is never returned."""

    serializer_class = WebhookEndpointSerializer
    permission_classes = [RolePermission]
    lookup_value_regex = r"\d+"
    http_method_names = ["get", "post", "patch", "head", "options"]
    capabilities = {"*": "alerts.configure"}

    def get_queryset(self):
        return WebhookEndpoint.objects.select_related("created_by").order_by("name")

    @extend_schema(
        request=WebhookEndpointCreateSerializer, responses={201: WebhookEndpointSerializer}
    )
    def create(self, request):
        ser = WebhookEndpointCreateSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        endpoint = services.webhook_endpoint_create(
            actor=request.user, now=clock.now(), **ser.validated_data
        )
        return Response(
            WebhookEndpointSerializer(endpoint, context=self.get_serializer_context()).data,
            status=status.HTTP_201_CREATED,
        )

    @extend_schema(
        request=WebhookEndpointUpdateSerializer, responses={200: WebhookEndpointSerializer}
    )
    def partial_update(self, request, pk=None):
        ser = WebhookEndpointUpdateSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        endpoint = services.webhook_endpoint_update(
            endpoint_id=int(pk), actor=request.user, now=clock.now(), **ser.validated_data
        )
        return Response(
            WebhookEndpointSerializer(endpoint, context=self.get_serializer_context()).data
        )
