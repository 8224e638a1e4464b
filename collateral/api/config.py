"""The collateral API: haircuts and margin policies."""

from __future__ import annotations

import django_filters
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.response import Response

from collateral import services
from collateral.api._common import (
    _REASON,
    _resolve,
)
from collateral.models import (
    Haircut,
    MarginPolicy,
)
from financing import clock
from financing.api.base import IdempotencyMixin, RolePermission, StrictSerializer
from financing.api.fields import AmountField, StrictIntegerField
from financing.refdata.models import Asset, Counterparty, Venue

# ---------------------------------------------------------------- haircuts and policies


class HaircutSerializer(serializers.ModelSerializer):
    asset = serializers.CharField(source="asset.symbol")
    venue = serializers.CharField(source="venue.code", default=None)
    counterparty = serializers.CharField(source="counterparty.code", default=None)
    haircut = AmountField()
    updated_by = serializers.CharField(source="updated_by.username")

    class Meta:
        model = Haircut
        fields = [
            "id",
            "asset",
            "venue",
            "counterparty",
            "haircut",
            "scope",
            "updated_by",
            "updated_at",
        ]


class HaircutInSerializer(StrictSerializer):
    asset = serializers.CharField(max_length=32)
    haircut = AmountField()
    venue = serializers.CharField(max_length=32, required=False, allow_null=True, default=None)
    counterparty = serializers.CharField(
        max_length=32, required=False, allow_null=True, default=None
    )
    reason = serializers.CharField(**_REASON)


class HaircutFilter(django_filters.FilterSet):
    asset = django_filters.CharFilter(field_name="asset__symbol", lookup_expr="iexact")
    venue = django_filters.CharFilter(field_name="venue__code", lookup_expr="iexact")
    counterparty = django_filters.CharFilter(field_name="counterparty__code", lookup_expr="iexact")

    class Meta:
        model = Haircut
        fields = []


class HaircutViewSet(IdempotencyMixin, mixins.ListModelMixin, viewsets.GenericViewSet):
    """Haircuts per asset, optionally per venue and/or counterparty (most specific wins).
    POST sets the haircut of that scope (creating or replacing it)."""

    permission_classes = [RolePermission]
    serializer_class = HaircutSerializer
    filterset_class = HaircutFilter
    capabilities = {"list": "collateral.view", "create": "risk.configure"}

    def get_queryset(self):
        return Haircut.objects.select_related("asset", "venue", "counterparty", "updated_by")

    @extend_schema(request=HaircutInSerializer, responses={201: HaircutSerializer})
    def create(self, request, *args, **kwargs):
        ser = HaircutInSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        d = ser.validated_data
        row = services.haircut_set(
            actor=request.user,
            asset=_resolve(Asset, "symbol", d["asset"], "asset"),
            venue=_resolve(Venue, "code", d["venue"], "venue"),
            counterparty=_resolve(Counterparty, "code", d["counterparty"], "counterparty"),
            haircut=d["haircut"],
            now=clock.now(),
            reason=d["reason"],
        )
        return Response(HaircutSerializer(row).data, status=status.HTTP_201_CREATED)


class PolicySerializer(serializers.ModelSerializer):
    counterparty = serializers.CharField(source="counterparty.code", default=None)
    asset = serializers.CharField(source="asset.symbol", default=None)
    initial_ltv = AmountField()
    warning_ltv = AmountField()
    call_ltv = AmountField()
    liquidation_ltv = AmountField()
    release_ltv = AmountField()
    updated_by = serializers.CharField(source="updated_by.username")

    class Meta:
        model = MarginPolicy
        fields = [
            "id",
            "counterparty",
            "asset",
            "scope",
            "initial_ltv",
            "warning_ltv",
            "call_ltv",
            "liquidation_ltv",
            "release_ltv",
            "cure_hours",
            "updated_by",
            "updated_at",
        ]


class PolicyInSerializer(StrictSerializer):
    counterparty = serializers.CharField(
        max_length=32, required=False, allow_null=True, default=None
    )
    asset = serializers.CharField(max_length=32, required=False, allow_null=True, default=None)
    initial_ltv = AmountField()
    warning_ltv = AmountField()
    call_ltv = AmountField()
    liquidation_ltv = AmountField()
    release_ltv = AmountField()
    cure_hours = StrictIntegerField(min_value=1, max_value=720)
    reason = serializers.CharField(**_REASON)


class MarginPolicyViewSet(IdempotencyMixin, mixins.ListModelMixin, viewsets.GenericViewSet):
    """Default margin terms per counterparty, asset, both, or the house default."""

    permission_classes = [RolePermission]
    serializer_class = PolicySerializer
    capabilities = {"list": "collateral.view", "create": "risk.configure"}

    def get_queryset(self):
        return MarginPolicy.objects.select_related("counterparty", "asset", "updated_by")

    @extend_schema(request=PolicyInSerializer, responses={201: PolicySerializer})
    def create(self, request, *args, **kwargs):
        ser = PolicyInSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        d = dict(ser.validated_data)
        row = services.margin_policy_set(
            actor=request.user,
            now=clock.now(),
            counterparty=_resolve(Counterparty, "code", d.pop("counterparty"), "counterparty"),
            asset=_resolve(Asset, "symbol", d.pop("asset"), "asset"),
            reason=d.pop("reason"),
            terms=d,
        )
        return Response(PolicySerializer(row).data, status=status.HTTP_201_CREATED)
