"""The collateral API: prices (POST one or many, manual prices for approval, latest)."""

from __future__ import annotations

import django_filters
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from collateral import selectors, services
from collateral.api._common import (
    _REASON,
    MAX_PRICES_PER_POST,
    _resolve,
)
from collateral.models import (
    PriceSnapshot,
)
from financing import clock
from financing.api.base import IdempotencyMixin, RolePermission, StrictSerializer, accepted
from financing.api.fields import AmountField
from financing.errors import InvalidInput
from financing.refdata.models import Asset

# ---------------------------------------------------------------- prices


class PriceInSerializer(StrictSerializer):
    asset = serializers.CharField(max_length=32)
    price_usd = AmountField()
    as_of = serializers.DateTimeField()
    source = serializers.CharField(max_length=64)
    reason = serializers.CharField(**_REASON)


class PriceSerializer(serializers.ModelSerializer):
    asset = serializers.CharField(source="asset.symbol")
    price_usd = AmountField()
    created_by = serializers.CharField(source="created_by.username", default=None)

    class Meta:
        model = PriceSnapshot
        fields = [
            "id",
            "asset",
            "price_usd",
            "as_of",
            "source",
            "received_at",
            "created_by",
            "approval",
        ]


class PriceFilter(django_filters.FilterSet):
    asset = django_filters.CharFilter(field_name="asset__symbol", lookup_expr="iexact")
    source = django_filters.CharFilter()
    since = django_filters.IsoDateTimeFilter(field_name="as_of", lookup_expr="gte")
    until = django_filters.IsoDateTimeFilter(field_name="as_of", lookup_expr="lte")

    class Meta:
        model = PriceSnapshot
        fields = []


class PriceViewSet(IdempotencyMixin, mixins.ListModelMixin, viewsets.GenericViewSet):
    """Price snapshots. POST one object or a list; `source: "manual"` needs approval (202)."""

    permission_classes = [RolePermission]
    serializer_class = PriceSerializer
    filterset_class = PriceFilter
    capabilities = {"list": "prices.view", "latest": "prices.view", "create": "prices.submit"}

    def get_queryset(self):
        return PriceSnapshot.objects.select_related("asset", "created_by").order_by("-as_of", "-id")

    @extend_schema(request=PriceInSerializer(many=True), responses={201: None, 202: None})
    def create(self, request, *args, **kwargs):
        data = request.data
        many = isinstance(data, list)
        if many and not data:
            raise InvalidInput("Send at least one price.", field="non_field_errors")
        if many and len(data) > MAX_PRICES_PER_POST:
            raise InvalidInput(
                f"At most {MAX_PRICES_PER_POST} prices per request.", field="non_field_errors"
            )
        ser = PriceInSerializer(data=data, many=many)
        ser.is_valid(raise_exception=True)
        items = ser.validated_data if many else [ser.validated_data]
        now = clock.now()
        rows = []
        for i, item in enumerate(items):
            asset = _resolve(Asset, "symbol", item["asset"], f"{i}.asset" if many else "asset")
            rows.append(
                services.PriceInput(asset, item["price_usd"], item["as_of"], item["source"])
            )
        manual = [r for r in rows if r.source == services.MANUAL]
        if manual:
            if many:
                raise InvalidInput(
                    "A manual price needs approval: submit it on its own, not in a list.",
                    field="source",
                )
            r = rows[0]
            approval = services.price_manual_request(
                actor=request.user,
                asset=r.asset,
                price_usd=r.price_usd,
                as_of=r.as_of,
                now=now,
                reason=items[0]["reason"],
            )
            return accepted(approval)
        result = services.prices_record(rows=rows, now=now, actor=request.user)
        return Response(result, status=status.HTTP_201_CREATED)

    @action(detail=False, methods=["get"])
    def latest(self, request):
        """The newest price per asset, its age and whether it is stale."""
        return Response({"results": selectors.prices_latest(now=clock.now())})
