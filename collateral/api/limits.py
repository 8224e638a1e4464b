"""Concentration limits over REST (api.md, Prices, collateral and margin): set one, list
them, and each limit's usage now."""

from __future__ import annotations

import django_filters
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from collateral import limits as limits_service
from collateral.api._common import _REASON, _amt
from collateral.models import ConcentrationLimit, LimitKind
from financing import clock
from financing.api.base import IdempotencyMixin, RolePermission, StrictSerializer
from financing.api.fields import AmountField
from financing.errors import InvalidInput


class LimitSerializer(serializers.ModelSerializer):
    soft_limit_usd = AmountField()
    hard_limit_usd = AmountField()
    updated_by = serializers.CharField(source="updated_by.username")

    class Meta:
        model = ConcentrationLimit
        fields = [
            "id",
            "kind",
            "key",
            "soft_limit_usd",
            "hard_limit_usd",
            "updated_by",
            "updated_at",
        ]


class LimitInSerializer(StrictSerializer):
    kind = serializers.ChoiceField(choices=LimitKind.choices)
    key = serializers.CharField(max_length=32)
    soft_limit_usd = AmountField()
    hard_limit_usd = AmountField()
    reason = serializers.CharField(**_REASON)


class LimitFilter(django_filters.FilterSet):
    kind = django_filters.ChoiceFilter(choices=LimitKind.choices)
    key = django_filters.CharFilter(lookup_expr="iexact")

    class Meta:
        model = ConcentrationLimit
        fields = []


_USAGE_STATUSES = ("ok", "soft", "hard")


def usage_body(u: dict) -> dict:
    return {
        "id": u["id"],
        "kind": u["kind"],
        "key": u["key"],
        "label": u["label"],
        "exposure_usd": _amt(u["exposure_usd"]),
        "soft_limit_usd": _amt(u["soft_limit_usd"]),
        "hard_limit_usd": _amt(u["hard_limit_usd"]),
        "utilisation": _amt(u["utilisation"]),
        "soft_utilisation": _amt(u["soft_utilisation"]),
        "headroom_usd": _amt(u["headroom_usd"]),
        "status": u["status"],
        "loans": u["loans"],
        "unpriced_loans": u["unpriced_loans"],
    }


class LimitViewSet(IdempotencyMixin, mixins.ListModelMixin, viewsets.GenericViewSet):
    """Concentration limits by counterparty (code), asset (symbol) or tenor bucket (open,
    0-30d, 31-90d, 91-180d, 181d+). POST sets one (creating or replacing it); `exposure/` gives
    each limit's usage now: exposure, utilisation of the hard limit, status ok / soft / hard."""

    permission_classes = [RolePermission]
    serializer_class = LimitSerializer
    filterset_class = LimitFilter
    capabilities = {
        "list": "collateral.view",
        "exposure": "collateral.view",
        "create": "risk.configure",
    }

    def get_queryset(self):
        return ConcentrationLimit.objects.select_related("updated_by").order_by("kind", "key")

    @extend_schema(request=LimitInSerializer, responses={201: LimitSerializer})
    def create(self, request, *args, **kwargs):
        ser = LimitInSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        d = ser.validated_data
        row = limits_service.limit_set(
            actor=request.user,
            kind=d["kind"],
            key=d["key"],
            soft_limit_usd=d["soft_limit_usd"],
            hard_limit_usd=d["hard_limit_usd"],
            now=clock.now(),
            reason=d["reason"],
        )
        return Response(LimitSerializer(row).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        parameters=[
            OpenApiParameter("kind", str, enum=list(LimitKind.values)),
            OpenApiParameter("status", str, enum=list(_USAGE_STATUSES)),
        ],
        responses={200: OpenApiTypes.OBJECT},
    )
    @action(detail=False, methods=["get"], filterset_class=None, pagination_class=None)
    def exposure(self, request):
        """Usage of every limit now (`?kind=`, `?status=ok|soft|hard` filter), and the lend
        book's exposure by counterparty, asset and tenor bucket (`book`)."""
        kind = request.query_params.get("kind")
        wanted_status = request.query_params.get("status")
        if kind and kind not in LimitKind.values:
            raise InvalidInput(f"Choose one of {', '.join(LimitKind.values)}.", field="kind")
        if wanted_status and wanted_status not in _USAGE_STATUSES:
            raise InvalidInput(f"Choose one of {', '.join(_USAGE_STATUSES)}.", field="status")
        now = clock.now()
        exposure = limits_service.limits_exposure(now)
        usage = limits_service.limits_usage(now, exposure=exposure)
        rows = [
            usage_body(u)
            for u in usage
            if (not kind or u["kind"] == kind)
            and (not wanted_status or u["status"] == wanted_status)
        ]
        book = {
            k: [
                {
                    "key": key,
                    "exposure_usd": _amt(g["exposure_usd"]),
                    "loans": g["loans"],
                    "unpriced_loans": g["unpriced_loans"],
                }
                for key, g in sorted(groups.items(), key=lambda kv: -kv[1]["exposure_usd"])
            ]
            for k, groups in exposure.items()
            if not kind or k == kind
        }
        return Response({"as_of": now, "count": len(rows), "results": rows, "book": book})
