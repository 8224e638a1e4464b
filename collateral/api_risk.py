"""Stress tests, stress scenarios and concentration limits over REST (api.md, Prices, collateral
and margin): validate, call one service or selector, serialize."""

from __future__ import annotations

import django_filters
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from collateral import limits as limits_service
from collateral import stress
from collateral.models import ConcentrationLimit, LimitKind, StressRun, StressScenario
from financing import clock
from financing.api.base import IdempotencyMixin, RolePermission, StrictSerializer
from financing.api.fields import AmountField
from financing.api.fields import amount_text as _amt
from financing.errors import InvalidInput

_REASON = {"max_length": 500, "required": False, "allow_blank": True, "default": ""}


# ---------------------------------------------------------------- stress tests


class StressRunSerializer(serializers.ModelSerializer):
    scenario = serializers.CharField(source="scenario.name", default=None)
    run_by = serializers.CharField(source="run_by.username")
    shortfall_usd = AmountField()
    top_up_usd = AmountField()
    seconds = serializers.DecimalField(max_digits=12, decimal_places=3, coerce_to_string=True)
    uncovered_usd = serializers.SerializerMethodField()
    totals = serializers.SerializerMethodField()
    prices = serializers.SerializerMethodField()

    class Meta:
        model = StressRun
        fields = [
            "id",
            "scenario",
            "shocks",
            "run_by",
            "run_at",
            "loans_valued",
            "loans_call",
            "loans_liquidation",
            "shortfall_usd",
            "top_up_usd",
            "uncovered_usd",
            "totals",
            "prices",
            "seconds",
        ]

    def get_uncovered_usd(self, run) -> str | None:
        return stress.run_totals(run).get("uncovered_usd")

    def get_totals(self, run) -> dict:
        totals = stress.run_totals(run)
        totals.pop("steps", None)
        return totals

    def get_prices(self, run) -> dict:
        return stress.run_prices(run)


class StressRunDetailSerializer(StressRunSerializer):
    loans = serializers.JSONField(source="results")

    class Meta(StressRunSerializer.Meta):
        fields = [*StressRunSerializer.Meta.fields, "loans"]


class StressRunInSerializer(StrictSerializer):
    shocks = serializers.DictField(required=False, allow_empty=True)
    scenario = serializers.CharField(max_length=100, required=False)


class StressRunFilter(django_filters.FilterSet):
    scenario = django_filters.CharFilter(field_name="scenario__name", lookup_expr="iexact")
    since = django_filters.IsoDateTimeFilter(field_name="run_at", lookup_expr="gte")
    until = django_filters.IsoDateTimeFilter(field_name="run_at", lookup_expr="lte")

    class Meta:
        model = StressRun
        fields = []


def _scenario(name: str) -> StressScenario:
    found = StressScenario.objects.filter(name__iexact=str(name).strip()).first()
    if found is None:
        raise InvalidInput(f"No saved scenario named {name!r}.", field="scenario")
    return found


class StressRunViewSet(
    IdempotencyMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """Stress tests over the whole book. POST `{"shocks": {"BTC": "-0.30"}}` or
    `{"scenario": "<name>"}`: 201 with the counts, the lend side's `shortfall_usd` (top-up to
    the initial LTV of the loans reaching call), the borrow side's `top_up_usd`, the uncovered
    exposure and `loans` (those reaching call or liquidation, worst first)."""

    permission_classes = [RolePermission]
    filterset_class = StressRunFilter
    capabilities = {
        "list": "collateral.view",
        "retrieve": "collateral.view",
        "create": "stress.run",
    }

    def get_queryset(self):
        return StressRun.objects.select_related("scenario", "run_by").order_by("-run_at", "-id")

    def get_serializer_class(self):
        return StressRunSerializer if self.action == "list" else StressRunDetailSerializer

    @extend_schema(request=StressRunInSerializer, responses={201: StressRunDetailSerializer})
    def create(self, request, *args, **kwargs):
        ser = StressRunInSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        d = ser.validated_data
        if "shocks" in d and "scenario" in d:
            raise InvalidInput("Give shocks or a scenario, not both.", field="scenario")
        if "shocks" not in d and "scenario" not in d:
            raise InvalidInput(
                'Give shocks ({"BTC": "-0.30"}) or the name of a saved scenario.', field="shocks"
            )
        scenario = _scenario(d["scenario"]) if "scenario" in d else None
        shocks = stress.shocks_parse(d["shocks"]) if "shocks" in d else None
        run = stress.stress_run(
            actor=request.user, shocks=shocks, scenario=scenario, now=clock.now()
        )
        run = self.get_queryset().get(pk=run.pk)
        return Response(StressRunDetailSerializer(run).data, status=status.HTTP_201_CREATED)


class ScenarioSerializer(serializers.ModelSerializer):
    created_by = serializers.CharField(source="created_by.username")

    class Meta:
        model = StressScenario
        fields = ["id", "name", "description", "shocks", "created_by", "created_at"]


class ScenarioInSerializer(StrictSerializer):
    name = serializers.CharField(max_length=100)
    shocks = serializers.DictField(allow_empty=True)
    description = serializers.CharField(
        max_length=2000, required=False, allow_blank=True, default=""
    )


class StressScenarioViewSet(
    IdempotencyMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """Saved sets of shocks. POST `{name, shocks, description?}` saves one (201), or replaces
    the shocks of the scenario with that name (200)."""

    permission_classes = [RolePermission]
    serializer_class = ScenarioSerializer
    capabilities = {
        "list": "collateral.view",
        "retrieve": "collateral.view",
        "create": "stress.run",
    }

    def get_queryset(self):
        return StressScenario.objects.select_related("created_by").order_by("name")

    @extend_schema(request=ScenarioInSerializer, responses={201: ScenarioSerializer})
    def create(self, request, *args, **kwargs):
        ser = ScenarioInSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        d = ser.validated_data
        scenario, created = stress.stress_scenario_save(
            actor=request.user,
            name=d["name"],
            shocks=stress.shocks_parse(d["shocks"]),
            description=d["description"],
            now=clock.now(),
        )
        return Response(
            ScenarioSerializer(scenario).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


# ---------------------------------------------------------------- concentration limits


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
