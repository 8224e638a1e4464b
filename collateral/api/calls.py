"""The collateral API: margin calls and their actions, revaluation runs."""

from __future__ import annotations

import django_filters
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from collateral import margin, selectors, services
from collateral.api._common import (
    _REASON,
    _resolve,
)
from collateral.models import (
    CollateralPosition,
    MarginCall,
    MarginCallSide,
    MarginCallStatus,
    RevaluationRun,
)
from financing import clock
from financing.api.base import IdempotencyMixin, RolePermission, StrictSerializer
from financing.api.fields import AmountField, StrictIntegerField
from financing.errors import InvalidInput
from financing.jobs.tasks import job_enqueue
from financing.refdata.models import Asset, Venue

# ---------------------------------------------------------------- margin calls


class MarginCallSerializer(serializers.ModelSerializer):
    counterparty = serializers.CharField(source="loan.counterparty.code")
    asset = serializers.CharField(source="loan.asset.symbol")
    ltv = AmountField(source="current_ltv", allow_null=True)
    opening_ltv = AmountField(allow_null=True)
    required_top_up_usd = AmountField()
    current_top_up_usd = AmountField()

    class Meta:
        model = MarginCall
        fields = [
            "id",
            "loan",
            "counterparty",
            "asset",
            "side",
            "status",
            "ltv",
            "opening_ltv",
            "required_top_up_usd",
            "current_top_up_usd",
            "deadline",
            "opened_at",
            "closed_at",
            "escalated_at",
            "liquidation_at",
            "last_valued_at",
            "resolution",
        ]


class MarginCallFilter(django_filters.FilterSet):
    loan = django_filters.NumberFilter()
    status = django_filters.MultipleChoiceFilter(choices=MarginCallStatus.choices, distinct=False)
    side = django_filters.ChoiceFilter(choices=MarginCallSide.choices)
    counterparty = django_filters.CharFilter(
        field_name="loan__counterparty__code", lookup_expr="iexact"
    )
    is_open = django_filters.BooleanFilter(field_name="closed_at", lookup_expr="isnull")

    class Meta:
        model = MarginCall
        fields = []


class EscalateSerializer(StrictSerializer):
    reason = serializers.CharField(max_length=500)


class LiquidateSerializer(StrictSerializer):
    position = StrictIntegerField(required=False, allow_null=True, default=None, min_value=1)
    sale_price_usd = AmountField(required=False, allow_null=True, default=None)
    reason = serializers.CharField(**_REASON)


class CallTopUpSerializer(StrictSerializer):
    asset = serializers.CharField(max_length=32)
    quantity = AmountField()
    venue = serializers.CharField(max_length=32)
    reason = serializers.CharField(**_REASON)


class MarginCallViewSet(
    IdempotencyMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    permission_classes = [RolePermission]
    serializer_class = MarginCallSerializer
    filterset_class = MarginCallFilter
    capabilities = {
        "list": "collateral.view",
        "retrieve": "collateral.view",
        "escalate": "margin.act",
        "liquidate": "margin.act",
        "top_up": "collateral.move",
    }

    def get_queryset(self):
        return MarginCall.objects.select_related("loan__counterparty", "loan__asset").order_by(
            "-opened_at", "-id"
        )

    def retrieve(self, request, *args, **kwargs):
        call = self.get_object()
        body = MarginCallSerializer(call).data
        body.update(selectors.margin_call_detail(call))
        return Response(body)

    def _respond(self, call, code=status.HTTP_200_OK, **extra):
        call = self.get_queryset().get(pk=call.pk)
        body = MarginCallSerializer(call).data
        body.update(extra)
        return Response(body, status=code)

    @extend_schema(request=EscalateSerializer, responses={200: MarginCallSerializer})
    @action(detail=True, methods=["post"])
    def escalate(self, request, pk=None):
        call = self.get_object()
        ser = EscalateSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        call = margin.margin_call_escalate(
            actor=request.user, call=call, now=clock.now(), reason=ser.validated_data["reason"]
        )
        return self._respond(call)

    @extend_schema(request=LiquidateSerializer, responses={201: MarginCallSerializer})
    @action(detail=True, methods=["post"])
    def liquidate(self, request, pk=None):
        call = self.get_object()
        ser = LiquidateSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        d = ser.validated_data
        position = None
        if d["position"] is not None:
            position = CollateralPosition.objects.filter(pk=d["position"]).first()
            if position is None:
                raise InvalidInput("Unknown position.", field="position")
        liq = margin.margin_call_liquidate(
            actor=request.user,
            call=call,
            now=clock.now(),
            position=position,
            sale_price_usd=d["sale_price_usd"],
            reason=d["reason"],
        )
        return self._respond(
            call, status.HTTP_201_CREATED, liquidation=selectors.liquidation_body(liq)
        )

    @extend_schema(request=CallTopUpSerializer, responses={201: MarginCallSerializer})
    @action(detail=True, methods=["post"], url_path="top-up")
    def top_up(self, request, pk=None):
        call = self.get_object()
        ser = CallTopUpSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        d = ser.validated_data
        movement = services.collateral_top_up(
            actor=request.user,
            loan=call.loan,
            asset=_resolve(Asset, "symbol", d["asset"], "asset"),
            venue=_resolve(Venue, "code", d["venue"], "venue"),
            quantity=d["quantity"],
            now=clock.now(),
            reason=d["reason"] or f"top-up for MC{call.pk}",
        )
        return self._respond(call, status.HTTP_201_CREATED, movement=movement.pk)


# ---------------------------------------------------------------- revaluation runs


class RunSerializer(serializers.ModelSerializer):
    seconds = serializers.DecimalField(max_digits=12, decimal_places=3, coerce_to_string=True)

    class Meta:
        model = RevaluationRun
        fields = [
            "id",
            "scope",
            "trigger",
            "started_at",
            "finished_at",
            "assets",
            "prices",
            "loans_valued",
            "loans_stale",
            "calls_opened",
            "calls_met",
            "calls_escalated",
            "calls_liquidation",
            "warnings",
            "steps",
            "seconds",
        ]


class RevaluationRunViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """Revaluation runs; POST queues a whole-book revaluation now (202)."""

    permission_classes = [RolePermission]
    serializer_class = RunSerializer
    capabilities = {"list": "collateral.view", "retrieve": "collateral.view", "create": "jobs.run"}
    queryset = RevaluationRun.objects.order_by("-started_at", "-id")

    @extend_schema(request=None, responses={202: None})
    def create(self, request, *args, **kwargs):
        job_enqueue("revalue_collateral", trigger="dashboard", requested_by=request.user.username)
        return Response(
            {"job": "revalue_collateral", "status": "queued"}, status=status.HTTP_202_ACCEPTED
        )
