"""Stress tests and stress scenarios over REST (api.md, Prices, collateral and margin):
validate, call one service or selector, serialize."""

from __future__ import annotations

import django_filters
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.response import Response

from collateral import stress
from collateral.models import StressRun, StressScenario
from financing import clock
from financing.api.base import IdempotencyMixin, RolePermission, StrictSerializer
from financing.api.fields import AmountField
from financing.errors import InvalidInput


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
