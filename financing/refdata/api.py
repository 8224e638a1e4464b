"""Reference data over REST (api.md): assets, venues, desks, counterparties."""

from __future__ import annotations

import django_filters
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from financing import clock
from financing.api.base import IdempotencyMixin, RolePermission, StrictSerializer, accepted
from financing.api.fields import StrictBooleanField, StrictIntegerField
from financing.audit.api import HistoryMixin
from financing.refdata import services
from financing.refdata.models import Asset, Counterparty, Desk, Venue

READ = {"list": "refdata.view", "retrieve": "refdata.view", "history": "refdata.view"}


class AssetSerializer(StrictSerializer):
    symbol = serializers.CharField(max_length=32)
    name = serializers.CharField(max_length=100)
    decimals = StrictIntegerField(min_value=0, max_value=18)
    is_stablecoin = StrictBooleanField(default=False)
    chains = serializers.ListField(
        child=serializers.CharField(max_length=32), max_length=20, default=list
    )
    is_active = StrictBooleanField(default=True)


class VenueSerializer(StrictSerializer):
    code = serializers.CharField(max_length=32)
    name = serializers.CharField(max_length=100)
    kind = serializers.ChoiceField(choices=Venue.Kind.choices)
    status = serializers.ChoiceField(choices=Venue.Status.choices, default=Venue.Status.ACTIVE)


class DeskSerializer(StrictSerializer):
    code = serializers.CharField(max_length=32)
    name = serializers.CharField(max_length=100)
    risk_profile = serializers.ChoiceField(
        choices=Desk.RiskProfile.choices, default=Desk.RiskProfile.MEDIUM
    )


class CounterpartySerializer(StrictSerializer):
    code = serializers.CharField(max_length=32)
    name = serializers.CharField(max_length=200)
    kind = serializers.ChoiceField(choices=Counterparty.Kind.choices)
    jurisdiction = serializers.CharField(min_length=2, max_length=2)
    lei = serializers.CharField(max_length=20, allow_blank=True, default="")
    risk_rating = serializers.ChoiceField(choices=Counterparty.RiskRating.choices)
    kyc_status = serializers.CharField(read_only=True)
    kyc_expires_on = serializers.DateField(read_only=True)
    is_active = StrictBooleanField(default=True)

    read_only_messages = {
        "kyc_status": "KYC changes go through POST /api/counterparties/{code}/kyc/ "
        "(approved by another compliance user).",
        "kyc_expires_on": "KYC changes go through POST /api/counterparties/{code}/kyc/ "
        "(approved by another compliance user).",
    }


class KycChangeSerializer(StrictSerializer):
    kyc_status = serializers.ChoiceField(choices=Counterparty.KycStatus.choices)
    kyc_expires_on = serializers.DateField(required=False, allow_null=True, default=None)
    reason = serializers.CharField(max_length=500)


class ApprovalAcceptedSerializer(serializers.Serializer):
    approval = serializers.IntegerField()
    status = serializers.CharField()


class _RefdataViewSet(
    IdempotencyMixin,
    HistoryMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    permission_classes = [RolePermission]
    key_field: str = "code"
    create_service = None
    update_service = None
    instance_kwarg = ""

    def get_object(self):
        self.kwargs[self.lookup_field] = str(self.kwargs[self.lookup_field]).upper()
        return super().get_object()

    def create(self, request, *args, **kwargs):
        ser = self.get_serializer(data=request.data)
        ser.is_valid(raise_exception=True)
        data = dict(ser.validated_data)
        key = data.pop(self.key_field)
        obj = type(self).create_service(actor=request.user, **{self.key_field: key}, **data)
        return Response(self.get_serializer(obj).data, status=status.HTTP_201_CREATED)

    def partial_update(self, request, *args, **kwargs):
        obj = self.get_object()
        ser = self.get_serializer(obj, data=request.data, partial=True)
        ser.is_valid(raise_exception=True)
        data = dict(ser.validated_data)
        if self.key_field in data and data[self.key_field].upper() != getattr(obj, self.key_field):
            raise serializers.ValidationError({self.key_field: ["A code cannot be changed."]})
        data.pop(self.key_field, None)
        obj = type(self).update_service(actor=request.user, **{self.instance_kwarg: obj}, **data)
        return Response(self.get_serializer(obj).data)


class AssetFilter(django_filters.FilterSet):
    class Meta:
        model = Asset
        fields = ["is_stablecoin", "is_active"]


class AssetViewSet(_RefdataViewSet):
    queryset = Asset.objects.all()
    serializer_class = AssetSerializer
    lookup_field = "symbol"
    key_field = "symbol"
    instance_kwarg = "asset"
    filterset_class = AssetFilter
    ordering_fields = ["symbol", "name"]
    capabilities = {**READ, "create": "refdata.manage", "partial_update": "refdata.manage"}
    create_service = staticmethod(services.asset_create)
    update_service = staticmethod(services.asset_update)


class VenueViewSet(_RefdataViewSet):
    queryset = Venue.objects.all()
    serializer_class = VenueSerializer
    lookup_field = "code"
    instance_kwarg = "venue"
    filterset_fields = ["kind", "status"]
    ordering_fields = ["code", "name"]
    capabilities = {**READ, "create": "refdata.manage", "partial_update": "refdata.manage"}
    create_service = staticmethod(services.venue_create)
    update_service = staticmethod(services.venue_update)


class DeskViewSet(_RefdataViewSet):
    queryset = Desk.objects.all()
    serializer_class = DeskSerializer
    lookup_field = "code"
    instance_kwarg = "desk"
    filterset_fields = ["risk_profile"]
    ordering_fields = ["code", "name"]
    capabilities = {**READ, "create": "refdata.manage", "partial_update": "refdata.manage"}
    create_service = staticmethod(services.desk_create)
    update_service = staticmethod(services.desk_update)


class CounterpartyFilter(django_filters.FilterSet):
    kyc_expires_before = django_filters.DateFilter(field_name="kyc_expires_on", lookup_expr="lte")

    class Meta:
        model = Counterparty
        fields = ["kind", "kyc_status", "risk_rating", "jurisdiction", "is_active"]


class CounterpartyViewSet(_RefdataViewSet):
    queryset = Counterparty.objects.all()
    serializer_class = CounterpartySerializer
    lookup_field = "code"
    instance_kwarg = "counterparty"
    filterset_class = CounterpartyFilter
    ordering_fields = ["code", "name", "kyc_expires_on"]
    capabilities = {
        **READ,
        "create": "counterparty.manage",
        "partial_update": "counterparty.manage",
        "kyc": "counterparty.kyc",
    }
    create_service = staticmethod(services.counterparty_create)
    update_service = staticmethod(services.counterparty_update)

    def get_serializer_class(self):
        return KycChangeSerializer if self.action == "kyc" else CounterpartySerializer

    @extend_schema(
        request=KycChangeSerializer,
        responses={202: ApprovalAcceptedSerializer},
        summary="Request a KYC status change (takes effect when another compliance user approves)",
    )
    @action(detail=True, methods=["post"])
    def kyc(self, request, *args, **kwargs):
        cp = self.get_object()
        ser = KycChangeSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        approval = services.counterparty_kyc_change_request(
            actor=request.user, counterparty=cp, now=clock.now(), **ser.validated_data
        )
        return accepted(approval)
