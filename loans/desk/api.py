"""The borrow desk over REST (api.md, Borrow desk and inventory): requests (a trading user
sees only its own desk's), allocation, booking, cancel, reject, and inventory per asset."""

from __future__ import annotations

import django_filters
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.views import APIView

from financing import clock
from financing.api.base import (
    IdempotencyMixin,
    RolePermission,
    SharedFieldsSerializer,
    StrictSerializer,
)
from financing.api.base import resolve_code as _resolve
from financing.api.fields import AmountField, StrictIntegerField
from financing.api.fields import amount_text as _amt
from financing.errors import NotFound
from financing.refdata.models import Asset, Counterparty
from loans.desk import selectors, services
from loans.desk.forecast import demand_forecast
from loans.desk.models import BorrowRequest, RequestStatus, Urgency
from loans.models import MAX_TENOR_DAYS, DayCount


class BorrowRequestSerializer(SharedFieldsSerializer):
    """A borrow request: its terms, status, priority, SLA clock and what was allocated."""

    id = serializers.IntegerField(read_only=True)
    desk = serializers.CharField(source="desk.code")
    requested_by = serializers.CharField(source="requested_by.username")
    asset = serializers.CharField(source="asset.symbol")
    quantity = AmountField()
    max_rate = AmountField()
    tenor_days = serializers.IntegerField(allow_null=True, help_text="null: open term")
    needed_by = serializers.DateTimeField()
    urgency = serializers.ChoiceField(choices=Urgency.choices)
    expected_revenue_usd = AmountField()
    purpose = serializers.CharField()
    counterparty = serializers.CharField(source="counterparty.code", default=None, allow_null=True)
    status = serializers.ChoiceField(choices=RequestStatus.choices)
    priority = serializers.DecimalField(max_digits=6, decimal_places=2, coerce_to_string=True)
    priority_detail = serializers.JSONField()
    sla_due_at = serializers.DateTimeField()
    first_response_at = serializers.DateTimeField(allow_null=True)
    sla_breached = serializers.SerializerMethodField()
    allocated_quantity = AmountField()
    sourced_quantity = AmountField()
    loan = serializers.IntegerField(source="loan_id", allow_null=True)
    external_loan = serializers.IntegerField(source="external_loan_id", allow_null=True)
    decision_reason = serializers.CharField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    def get_sla_breached(self, r) -> bool:
        first = r.first_response_at or clock.now()
        return first > r.sla_due_at


class SubmitSerializer(StrictSerializer):
    asset = serializers.CharField(max_length=32)
    quantity = AmountField()
    max_rate = AmountField()
    tenor_days = StrictIntegerField(
        required=False,
        allow_null=True,
        default=None,
        min_value=1,
        max_value=MAX_TENOR_DAYS,
    )
    needed_by = serializers.DateTimeField()
    urgency = serializers.ChoiceField(choices=Urgency.choices)
    expected_revenue_usd = AmountField()
    purpose = serializers.CharField(max_length=500)
    counterparty = serializers.CharField(
        max_length=32, required=False, allow_null=True, default=None
    )


class AllocateSerializer(StrictSerializer):
    quantity = AmountField(required=False, allow_null=True, default=None)


class BookSerializer(StrictSerializer):
    rate = AmountField(required=False, allow_null=True, default=None)
    counterparty = serializers.CharField(
        max_length=32, required=False, allow_null=True, default=None
    )
    day_count = serializers.ChoiceField(choices=DayCount.values, default=DayCount.ACT_360)
    external_lender = serializers.CharField(
        max_length=32, required=False, allow_null=True, default=None
    )
    external_rate = AmountField(required=False, allow_null=True, default=None)


class DeskReasonSerializer(StrictSerializer):
    reason = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")


class RequestFilter(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(choices=RequestStatus.choices, distinct=False)
    asset = django_filters.CharFilter(field_name="asset__symbol", lookup_expr="iexact")
    desk = django_filters.CharFilter(field_name="desk__code", lookup_expr="iexact")
    urgency = django_filters.ChoiceFilter(choices=Urgency.choices)

    class Meta:
        model = BorrowRequest
        fields = []


def _request_id(pk) -> int:
    """The id in the URL, or a 404 (as get_object answers for an id that cannot exist)."""
    try:
        value = int(pk)
    except (TypeError, ValueError):
        value = 0
    if not 0 < value < 2**63:
        raise NotFound(f"No borrow request {str(pk)[:40]}.")
    return value


class BorrowRequestViewSet(
    IdempotencyMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    permission_classes = [RolePermission]
    serializer_class = BorrowRequestSerializer
    filterset_class = RequestFilter
    capabilities = {
        "list": "borrow.view",
        "retrieve": "borrow.view",
        "create": "borrow.submit",
        "cancel": "borrow.view",  # the service decides: own desk or operations
        "allocate": "borrow.work",
        "book": "borrow.work",
        "reject": "borrow.work",
    }

    def get_queryset(self):
        qs = selectors.requests_visible_to(self.request.user)
        if self.action in ("list", "retrieve"):
            qs = qs.select_related("desk", "asset", "counterparty", "requested_by")
        if self.action == "list" and not self.request.query_params.get("ordering"):
            return qs.order_by("-priority", "needed_by", "id")
        return qs

    def filter_queryset(self, queryset):
        # The filters select among requests to read; an action on one request is not filtered.
        if self.request.method == "POST":
            return queryset
        return super().filter_queryset(queryset)

    def _respond(self, request_obj, code=status.HTTP_200_OK):
        # The services return the request as they left it, its desk, asset, counterparty and
        # requester loaded: answered as is, without reading it back.
        return Response(BorrowRequestSerializer(request_obj).data, status=code)

    @extend_schema(request=SubmitSerializer, responses={201: BorrowRequestSerializer})
    def create(self, request, *args, **kwargs):
        ser = SubmitSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        d = dict(ser.validated_data)
        d["asset"] = _resolve(Asset, "symbol", d["asset"], "asset")
        d["counterparty"] = _resolve(Counterparty, "code", d["counterparty"], "counterparty")
        obj = services.borrow_request_submit(actor=request.user, now=clock.now(), **d)
        return self._respond(obj, status.HTTP_201_CREATED)

    @extend_schema(request=AllocateSerializer, responses={200: BorrowRequestSerializer})
    @action(detail=True, methods=["post"])
    def allocate(self, request, pk=None):
        ser = AllocateSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        # Allocating is for operations, who see every desk's requests: the service reads and
        # locks the request by its id (404 if there is none) without a read here first.
        obj = services.borrow_request_allocate(
            actor=request.user,
            request=_request_id(pk),
            now=clock.now(),
            quantity=ser.validated_data["quantity"],
        )
        return self._respond(obj)

    @extend_schema(request=BookSerializer, responses={200: BorrowRequestSerializer})
    @action(detail=True, methods=["post"])
    def book(self, request, pk=None):
        obj = self.get_object()
        ser = BookSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        d = dict(ser.validated_data)
        d["counterparty"] = _resolve(Counterparty, "code", d["counterparty"], "counterparty")
        d["external_lender"] = _resolve(
            Counterparty, "code", d["external_lender"], "external_lender"
        )
        obj = services.borrow_request_book(actor=request.user, request=obj, now=clock.now(), **d)
        return self._respond(obj)

    @extend_schema(request=DeskReasonSerializer, responses={200: BorrowRequestSerializer})
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        obj = self.get_object()
        ser = DeskReasonSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        obj = services.borrow_request_cancel(
            actor=request.user, request=obj, now=clock.now(), reason=ser.validated_data["reason"]
        )
        return self._respond(obj)

    @extend_schema(request=DeskReasonSerializer, responses={200: BorrowRequestSerializer})
    @action(detail=True, methods=["post"])
    def reject(self, request, pk=None):
        obj = self.get_object()
        ser = DeskReasonSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        obj = services.borrow_request_reject(
            actor=request.user, request=obj, now=clock.now(), reason=ser.validated_data["reason"]
        )
        return self._respond(obj)


class InventoryView(APIView):
    """Per asset: lendable, buffer, allocated, on_loan, available, utilization."""

    permission_classes = [RolePermission]
    capabilities = {"GET": "inventory.view"}

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    def get(self, request):
        assets = {a.pk: a for a in Asset.objects.filter(is_active=True).order_by("symbol")}
        inv = selectors.inventory(list(assets))
        results = [
            {
                "asset": a.symbol,
                **{
                    k: _amt(v) if k != "utilization" else (None if v is None else _amt(v))
                    for k, v in inv[pk].items()
                },
            }
            for pk, a in assets.items()
        ]
        return Response({"count": len(results), "next": None, "previous": None, "results": results})


class ForecastView(APIView):
    """Forecast demand per asset for the next 7 days, with the method and its backtest error."""

    permission_classes = [RolePermission]
    capabilities = {"GET": "inventory.view"}

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    def get(self, request):
        rows = demand_forecast(now=clock.now())
        results = [
            {
                **{
                    k: v
                    for k, v in r.items()
                    if k
                    not in ("forecast", "forecast_total", "requests_total", "backtest_wape_pct")
                },
                "requests_total": _amt(r["requests_total"]),
                "forecast_total": _amt(r["forecast_total"]),
                "backtest_wape_pct": _amt(r["backtest_wape_pct"]),
                "forecast": [
                    {"date": f["date"].isoformat(), "quantity": _amt(f["quantity"])}
                    for f in r["forecast"]
                ],
            }
            for r in rows
        ]
        return Response({"count": len(results), "next": None, "previous": None, "results": results})
