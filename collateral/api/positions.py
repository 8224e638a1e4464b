"""The collateral API: positions and movements per loan and pooled, substitution and
the loan's valuation."""

from __future__ import annotations

import django_filters
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.response import Response
from rest_framework.views import APIView

from collateral import selectors, services
from collateral.api._common import (
    _REASON,
    MOVEMENT_REQUEST_KINDS,
    _amt,
    _resolve,
)
from collateral.models import (
    CollateralMovement,
    CollateralPosition,
    LoanValuation,
    PositionDirection,
)
from financing import clock
from financing.api.base import IdempotencyMixin, RolePermission, StrictSerializer, accepted
from financing.api.fields import AmountField
from financing.refdata.models import Asset, Counterparty, Venue
from loans.models import Loan

# ---------------------------------------------------------------- positions and movements


class PositionSerializer(serializers.ModelSerializer):
    counterparty = serializers.CharField(source="counterparty.code")
    asset = serializers.CharField(source="asset.symbol")
    venue = serializers.CharField(source="venue.code")
    quantity = AmountField()

    class Meta:
        model = CollateralPosition
        fields = [
            "id",
            "counterparty",
            "loan",
            "pooled",
            "direction",
            "asset",
            "venue",
            "quantity",
            "updated_at",
        ]


class MovementSerializer(serializers.ModelSerializer):
    position = PositionSerializer()
    quantity = AmountField()
    actor = serializers.CharField(source="actor.username", default=None)

    class Meta:
        model = CollateralMovement
        fields = [
            "id",
            "position",
            "kind",
            "quantity",
            "group",
            "margin_call",
            "approval",
            "actor",
            "at",
            "reason",
        ]


class MovementInSerializer(StrictSerializer):
    asset = serializers.CharField(max_length=32)
    quantity = AmountField()
    venue = serializers.CharField(max_length=32)
    kind = serializers.ChoiceField(choices=MOVEMENT_REQUEST_KINDS)
    reason = serializers.CharField(**_REASON)


class PooledMovementInSerializer(MovementInSerializer):
    direction = serializers.ChoiceField(
        choices=PositionDirection.choices, default=PositionDirection.RECEIVED
    )


class LegSerializer(StrictSerializer):
    asset = serializers.CharField(max_length=32)
    venue = serializers.CharField(max_length=32)
    quantity = AmountField()


class SubstitutionInSerializer(StrictSerializer):
    out = LegSerializer()
    # "in" is a Python keyword: the field is declared under its JSON name below.
    reason = serializers.CharField(**_REASON)

    def get_fields(self):
        fields = super().get_fields()
        fields["in"] = LegSerializer()
        return fields


def _whole_list(results: list) -> dict:
    """A list small enough to answer in one page, in the shape of every paginated list."""
    return {"count": len(results), "next": None, "previous": None, "results": results}


def _movement(request, *, loan=None, counterparty=None, direction=None, data):
    asset = _resolve(Asset, "symbol", data["asset"], "asset")
    venue = _resolve(Venue, "code", data["venue"], "venue")
    kwargs = {
        "actor": request.user,
        "asset": asset,
        "venue": venue,
        "quantity": data["quantity"],
        "now": clock.now(),
        "loan": loan,
        "counterparty": counterparty,
        "direction": direction,
        "reason": data["reason"],
    }
    if data["kind"] == "release":
        return accepted(services.collateral_release_request(**kwargs))
    movement = services.collateral_top_up(**kwargs)
    body = MovementSerializer(movement).data
    if loan is not None:
        body["valuation"] = valuation_body(selectors.loan_valuation_latest(loan))
    return Response(body, status=status.HTTP_201_CREATED)


class LoanCollateralView(IdempotencyMixin, APIView):
    """GET the loan's positions (its own and its counterparty's pooled ones); POST a movement:
    `top_up` (immediate, revalues the loan) or `release` (needs approval: 202)."""

    permission_classes = [RolePermission]
    capabilities = {"GET": "collateral.view", "POST": "collateral.move"}

    @extend_schema(responses={200: PositionSerializer(many=True)})
    def get(self, request, loan_id: int):
        loan = get_object_or_404(Loan, pk=loan_id)
        rows = selectors.positions_for_loan(loan)
        return Response(_whole_list(PositionSerializer(rows, many=True).data))

    @extend_schema(request=MovementInSerializer, responses={201: MovementSerializer})
    def post(self, request, loan_id: int):
        loan = get_object_or_404(Loan, pk=loan_id)
        ser = MovementInSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        return _movement(request, loan=loan, data=ser.validated_data)


class LoanSubstitutionView(IdempotencyMixin, APIView):
    """POST `{out: {asset, venue, quantity}, in: {...}}`: both legs at once or neither."""

    permission_classes = [RolePermission]
    capabilities = {"POST": "collateral.move"}

    @extend_schema(request=SubstitutionInSerializer, responses={201: MovementSerializer(many=True)})
    def post(self, request, loan_id: int):
        loan = get_object_or_404(Loan, pk=loan_id)
        ser = SubstitutionInSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        out, in_ = ser.validated_data["out"], ser.validated_data["in"]
        moves = services.collateral_substitute(
            actor=request.user,
            loan=loan,
            out_asset=_resolve(Asset, "symbol", out["asset"], "out.asset"),
            out_venue=_resolve(Venue, "code", out["venue"], "out.venue"),
            out_quantity=out["quantity"],
            in_asset=_resolve(Asset, "symbol", in_["asset"], "in.asset"),
            in_venue=_resolve(Venue, "code", in_["venue"], "in.venue"),
            in_quantity=in_["quantity"],
            now=clock.now(),
            reason=ser.validated_data["reason"],
        )
        return Response(
            {
                "movements": MovementSerializer(moves, many=True).data,
                "valuation": valuation_body(selectors.loan_valuation_latest(loan)),
            },
            status=status.HTTP_201_CREATED,
        )


class PooledCollateralView(IdempotencyMixin, APIView):
    """Pooled collateral of a counterparty, securing all its loans of one direction."""

    permission_classes = [RolePermission]
    capabilities = {"GET": "collateral.view", "POST": "collateral.move"}

    @extend_schema(responses={200: PositionSerializer(many=True)})
    def get(self, request, code: str):
        cp = get_object_or_404(Counterparty, code__iexact=code)
        rows = list(
            CollateralPosition.objects.filter(counterparty=cp, loan__isnull=True)
            .select_related("counterparty", "asset", "venue")
            .order_by("direction", "asset__symbol", "venue__code")
        )
        return Response(_whole_list(PositionSerializer(rows, many=True).data))

    @extend_schema(request=PooledMovementInSerializer, responses={201: MovementSerializer})
    def post(self, request, code: str):
        cp = get_object_or_404(Counterparty, code__iexact=code)
        ser = PooledMovementInSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        d = ser.validated_data
        return _movement(request, counterparty=cp, direction=d["direction"], data=d)


def valuation_body(v: LoanValuation | None) -> dict | None:
    if v is None:
        return None
    return {
        "loan": v.loan_id,
        "valued_at": v.valued_at,
        "run": v.run_id,
        "exposure_qty": _amt(v.exposure_qty),
        "loan_price_usd": _amt(v.loan_price_usd),
        "exposure_usd": _amt(v.exposure_usd),
        "collateral_value_usd": _amt(v.collateral_value_usd),
        "pooled_value_usd": _amt(v.pooled_value_usd),
        "ltv": _amt(v.ltv),
        "stale": v.stale,
        "band": v.band,
        "margin": {
            "initial_ltv": _amt(v.initial_ltv),
            "warning_ltv": _amt(v.warning_ltv),
            "call_ltv": _amt(v.call_ltv),
            "liquidation_ltv": _amt(v.liquidation_ltv),
            "release_ltv": _amt(v.release_ltv),
        },
        "top_up_usd": _amt(v.top_up_usd),
        "excess_usd": _amt(v.excess_usd),
        "prices": selectors.valuation_prices(v),
        "haircuts": [
            {k: line.get(k) for k in ("position", "asset", "venue", "haircut", "haircut_scope")}
            for line in v.lines
        ],
        "lines": v.lines,
    }


class LoanValuationView(APIView):
    """The loan's latest valuation with the prices and haircuts it used."""

    permission_classes = [RolePermission]
    capabilities = {"GET": "collateral.view"}

    @extend_schema(responses={200: OpenApiTypes.OBJECT, 404: OpenApiTypes.OBJECT})
    def get(self, request, loan_id: int):
        loan = get_object_or_404(Loan, pk=loan_id)
        v = selectors.loan_valuation_latest(loan)
        if v is None:
            return Response(
                {"detail": f"{loan.reference} has not been valued yet."},
                status=status.HTTP_404_NOT_FOUND,
            )
        return Response(valuation_body(v))


class PositionFilter(django_filters.FilterSet):
    counterparty = django_filters.CharFilter(field_name="counterparty__code", lookup_expr="iexact")
    asset = django_filters.CharFilter(field_name="asset__symbol", lookup_expr="iexact")
    venue = django_filters.CharFilter(field_name="venue__code", lookup_expr="iexact")
    loan = django_filters.NumberFilter()
    pooled = django_filters.BooleanFilter(field_name="loan", lookup_expr="isnull")
    direction = django_filters.ChoiceFilter(choices=PositionDirection.choices)

    class Meta:
        model = CollateralPosition
        fields = []


class PositionViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    permission_classes = [RolePermission]
    serializer_class = PositionSerializer
    filterset_class = PositionFilter
    capabilities = {"list": "collateral.view"}

    def get_queryset(self):
        return CollateralPosition.objects.select_related("counterparty", "asset", "venue").order_by(
            "-id"
        )


class MovementFilter(django_filters.FilterSet):
    loan = django_filters.NumberFilter(field_name="position__loan")
    counterparty = django_filters.CharFilter(
        field_name="position__counterparty__code", lookup_expr="iexact"
    )
    kind = django_filters.ChoiceFilter(choices=CollateralMovement.Kind.choices)

    class Meta:
        model = CollateralMovement
        fields = []


class MovementViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    permission_classes = [RolePermission]
    serializer_class = MovementSerializer
    filterset_class = MovementFilter
    capabilities = {"list": "collateral.view"}

    def get_queryset(self):
        return CollateralMovement.objects.select_related(
            "position__counterparty", "position__asset", "position__venue", "actor"
        ).order_by("-at", "-id")
