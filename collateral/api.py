"""Prices, haircuts, margin policies, collateral and margin calls over REST (api.md, Prices,
collateral and margin): validate, call one service or selector, serialize."""

from __future__ import annotations

import django_filters
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.views import APIView

from collateral import margin, selectors, services
from collateral.models import (
    CollateralMovement,
    CollateralPosition,
    Haircut,
    LoanValuation,
    MarginCall,
    MarginCallSide,
    MarginCallStatus,
    MarginPolicy,
    PositionDirection,
    PriceSnapshot,
    RevaluationRun,
)
from financing import clock
from financing.api.base import IdempotencyMixin, RolePermission, StrictSerializer, accepted
from financing.api.fields import AmountField, StrictIntegerField
from financing.errors import InvalidInput
from financing.jobs.services import job_enqueue
from financing.refdata.models import Asset, Counterparty, Venue
from loans.models import Loan

MAX_PRICES_PER_POST = 1000
MOVEMENT_REQUEST_KINDS = [("top_up", "top_up"), ("release", "release")]
_AMOUNT = AmountField()


def _amt(value):
    return None if value is None else _AMOUNT.to_representation(value)


def _resolve(model, field: str, value, name: str):
    if value in (None, ""):
        return None
    try:
        return model.objects.get(**{f"{field}__iexact": str(value).strip()})
    except model.DoesNotExist:
        raise InvalidInput(f"Unknown {name} {value!r}.", field=name) from None


_REASON = {"max_length": 500, "required": False, "allow_blank": True, "default": ""}


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
