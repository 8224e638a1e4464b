"""The loan book over REST (api.md, Loans): validate, call one service, serialize."""

from __future__ import annotations

import django_filters
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from financing import clock
from financing.api.base import IdempotencyMixin, RolePermission, StrictSerializer, accepted
from financing.api.base import resolve_code as _resolve
from financing.api.fields import AmountField, StrictBooleanField, StrictIntegerField
from financing.api.fields import amount_text as _as_amount
from financing.audit.api import HistoryMixin
from financing.refdata.models import Asset, Counterparty, Desk
from loans import selectors, services
from loans.models import (
    Accrual,
    DayCount,
    Direction,
    InterestSettlement,
    Loan,
    LoanEvent,
    LoanStatus,
    PrincipalChange,
    RateChange,
    SettlementFrequency,
    Term,
)

# ---------------------------------------------------------------- representations


class MarginSerializer(StrictSerializer):
    initial_ltv = AmountField(required=False, allow_null=True)
    warning_ltv = AmountField(required=False, allow_null=True)
    call_ltv = AmountField(required=False, allow_null=True)
    liquidation_ltv = AmountField(required=False, allow_null=True)
    release_ltv = AmountField(required=False, allow_null=True)
    cure_hours = StrictIntegerField(required=False, allow_null=True, min_value=1, max_value=720)


class LoanSerializer(serializers.ModelSerializer):
    reference = serializers.CharField(read_only=True)
    counterparty = serializers.CharField(source="counterparty.code")
    asset = serializers.CharField(source="asset.symbol")
    desk = serializers.CharField(source="desk.code", allow_null=True, default=None)
    principal = AmountField()
    outstanding_principal = AmountField()
    rate = AmountField()
    accrued_interest = AmountField(source="accrued_unsettled")
    accrued_total = AmountField()
    interest_settled = AmountField(source="balance.interest_settled")
    interest_capitalised = AmountField(source="balance.interest_capitalised")
    accrued_through = serializers.DateField()
    restatement_pending_from = serializers.DateField(source="balance.restate_from")
    margin = serializers.SerializerMethodField()
    created_by = serializers.CharField(source="created_by.username")

    class Meta:
        model = Loan
        fields = [
            "id",
            "reference",
            "status",
            "direction",
            "counterparty",
            "asset",
            "desk",
            "principal",
            "outstanding_principal",
            "rate",
            "day_count",
            "term",
            "start_date",
            "maturity_date",
            "recall_notice_days",
            "recall_due_date",
            "end_date",
            "is_overdue",
            "settlement_frequency",
            "capitalise_interest",
            "accrued_interest",
            "accrued_total",
            "interest_settled",
            "interest_capitalised",
            "accrued_through",
            "restatement_pending_from",
            "margin",
            "external_ref",
            "approval",
            "created_by",
            "created_at",
        ]
        read_only_fields = fields

    def get_margin(self, loan) -> dict:
        out = {name: _as_amount(getattr(loan, name)) for name in services.MARGIN_FIELDS}
        out["cure_hours"] = loan.cure_hours
        return out


class LoanCreateSerializer(StrictSerializer):
    counterparty = serializers.CharField(max_length=32)
    direction = serializers.ChoiceField(choices=Direction.choices)
    asset = serializers.CharField(max_length=32)
    principal = AmountField()
    rate = AmountField()
    day_count = serializers.ChoiceField(choices=DayCount.choices)
    term = serializers.ChoiceField(choices=Term.choices)
    start_date = serializers.DateField()
    maturity_date = serializers.DateField(required=False, allow_null=True, default=None)
    recall_notice_days = StrictIntegerField(
        required=False, allow_null=True, default=None, min_value=0, max_value=365
    )
    settlement_frequency = serializers.ChoiceField(
        choices=SettlementFrequency.choices, default=SettlementFrequency.MONTHLY
    )
    capitalise_interest = StrictBooleanField(default=False)
    margin = MarginSerializer(required=False, default=dict)
    desk = serializers.CharField(max_length=32, required=False, allow_null=True, default=None)
    external_ref = serializers.CharField(
        max_length=100, required=False, allow_blank=True, default=""
    )
    reason = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")


class RateChangeSerializer(StrictSerializer):
    rate = AmountField()
    effective_date = serializers.DateField()
    reason = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")


class RepaymentSerializer(StrictSerializer):
    amount = AmountField()
    date = serializers.DateField()
    reason = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")


class SettlementRequestSerializer(StrictSerializer):
    date = serializers.DateField()
    reason = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")


class RecallSerializer(StrictSerializer):
    notice_days = StrictIntegerField(
        required=False, allow_null=True, default=None, min_value=0, max_value=365
    )
    reason = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")


class ReasonSerializer(StrictSerializer):
    reason = serializers.CharField(max_length=500)


class OptionalReasonSerializer(StrictSerializer):
    reason = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")


class LiquidationSerializer(StrictSerializer):
    proceeds = AmountField()
    date = serializers.DateField()
    reason = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")


class AccrualSerializer(serializers.ModelSerializer):
    principal = AmountField()
    rate = AmountField()
    day_count_fraction = AmountField()
    amount = AmountField()

    class Meta:
        model = Accrual
        fields = [
            "date",
            "kind",
            "seq",
            "principal",
            "rate",
            "day_count_fraction",
            "amount",
            "cause",
            "run",
            "created_at",
        ]


class RateChangeRowSerializer(serializers.ModelSerializer):
    rate = AmountField()
    created_by = serializers.CharField(source="created_by.username")

    class Meta:
        model = RateChange
        fields = ["id", "effective_date", "rate", "approval", "created_by", "created_at", "reason"]


class PrincipalChangeSerializer(serializers.ModelSerializer):
    amount = AmountField()

    class Meta:
        model = PrincipalChange
        fields = ["id", "kind", "effective_date", "amount", "created_at", "reason"]


class SettlementSerializer(serializers.ModelSerializer):
    amount = AmountField()
    accrued_before = AmountField()
    carried = AmountField()

    class Meta:
        model = InterestSettlement
        fields = ["id", "date", "amount", "accrued_before", "carried", "capitalised", "created_at"]


class EventSerializer(serializers.ModelSerializer):
    actor = serializers.CharField(source="actor.username", allow_null=True, default=None)

    class Meta:
        model = LoanEvent
        fields = ["id", "kind", "from_status", "to_status", "actor", "at", "reason", "data"]


# ---------------------------------------------------------------- the viewset


class LoanFilter(django_filters.FilterSet):
    # No DISTINCT: a loan has one status, and DISTINCT would sort every matching row.
    status = django_filters.MultipleChoiceFilter(choices=LoanStatus.choices, distinct=False)
    direction = django_filters.ChoiceFilter(choices=Direction.choices)
    term = django_filters.ChoiceFilter(choices=Term.choices)
    day_count = django_filters.ChoiceFilter(choices=DayCount.choices)
    counterparty = django_filters.CharFilter(field_name="counterparty__code", lookup_expr="iexact")
    asset = django_filters.CharFilter(field_name="asset__symbol", lookup_expr="iexact")
    desk = django_filters.CharFilter(field_name="desk__code", lookup_expr="iexact")
    is_overdue = django_filters.BooleanFilter()
    start_after = django_filters.DateFilter(field_name="start_date", lookup_expr="gte")
    start_before = django_filters.DateFilter(field_name="start_date", lookup_expr="lte")

    class Meta:
        model = Loan
        fields = []


class LoanViewSet(
    IdempotencyMixin,
    HistoryMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    permission_classes = [RolePermission]
    serializer_class = LoanSerializer
    filterset_class = LoanFilter
    ordering_fields = ["id", "start_date", "principal", "outstanding_principal", "rate"]
    capabilities = {
        "list": "loans.view",
        "retrieve": "loans.view",
        "history": "loans.view",
        "accruals": "loans.view",
        "events": "loans.view",
        "create": "loans.book",
        "rate_changes": "loans.view",
        "rate_changes:POST": "loans.rate_change",
        "repayments": "loans.view",
        "repayments:POST": "loans.service",
        "interest_settlements": "loans.view",
        "interest_settlements:POST": "loans.service",
        "recall": "loans.service",
        "default": "loans.default",
        "liquidation": "loans.service",
        "write_off": "loans.write_off",
        "close": "loans.service",
    }

    def get_queryset(self):
        return selectors.loan_list()

    def list(self, request, *args, **kwargs):
        # Page over bare ids first: an OFFSET would otherwise compute the running figures of
        # every skipped row. Then read the figures of the 50 loans on the page only.
        ids_qs = self.filter_queryset(Loan.objects.order_by("-id"))
        page_ids = self.paginate_queryset(ids_qs.values_list("pk", flat=True))
        rows = {loan.pk: loan for loan in selectors.loan_list().filter(pk__in=list(page_ids))}
        data = LoanSerializer([rows[pk] for pk in page_ids if pk in rows], many=True).data
        return self.get_paginated_response(data)

    def get_serializer_class(self):
        return {
            "create": LoanCreateSerializer,
            "accruals": AccrualSerializer,
            "events": EventSerializer,
        }.get(self.action, LoanSerializer)

    def _loan_response(self, loan, code=status.HTTP_200_OK, **extra):
        fresh = selectors.loan_list().get(pk=loan.pk)
        body = LoanSerializer(fresh).data
        body.update(extra)
        return Response(body, status=code)

    @extend_schema(request=LoanCreateSerializer, responses={201: LoanSerializer})
    def create(self, request, *args, **kwargs):
        ser = LoanCreateSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        data = dict(ser.validated_data)
        data["counterparty"] = _resolve(Counterparty, "code", data["counterparty"], "counterparty")
        data["asset"] = _resolve(Asset, "symbol", data["asset"], "asset")
        if data.get("desk"):
            data["desk"] = _resolve(Desk, "code", data["desk"], "desk")
        data["margin"] = {k: v for k, v in (data.get("margin") or {}).items() if v is not None}
        loan = services.loan_book(actor=request.user, now=clock.now(), **data)
        return self._loan_response(loan, status.HTTP_201_CREATED)

    def _page(self, qs, serializer_class):
        page = self.paginate_queryset(qs)
        return self.get_paginated_response(serializer_class(page, many=True).data)

    @extend_schema(responses={200: AccrualSerializer(many=True)}, summary="The accrual ledger")
    @action(detail=True, methods=["get"])
    def accruals(self, request, *args, **kwargs):
        loan = self.get_object()
        qs = Accrual.objects.filter(loan=loan).order_by("date", "kind", "seq")
        return self._page(qs, AccrualSerializer)

    @extend_schema(responses={200: EventSerializer(many=True)}, summary="Lifecycle events")
    @action(detail=True, methods=["get"])
    def events(self, request, *args, **kwargs):
        loan = self.get_object()
        qs = LoanEvent.objects.filter(loan=loan).select_related("actor").order_by("at", "id")
        return self._page(qs, EventSerializer)

    @extend_schema(
        request=RateChangeSerializer,
        responses={202: dict, 200: RateChangeRowSerializer(many=True)},
        summary="Rate schedule (GET) or request a rate change (POST, needs approval)",
    )
    @action(detail=True, methods=["get", "post"], url_path="rate-changes")
    def rate_changes(self, request, *args, **kwargs):
        loan = self.get_object()
        if request.method == "GET":
            qs = RateChange.objects.filter(loan=loan).select_related("created_by")
            return self._page(qs.order_by("effective_date", "id"), RateChangeRowSerializer)
        ser = RateChangeSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        approval = services.loan_rate_change_request(
            actor=request.user, loan=loan, now=clock.now(), **ser.validated_data
        )
        return accepted(approval)

    @extend_schema(
        request=RepaymentSerializer,
        responses={201: LoanSerializer, 200: PrincipalChangeSerializer(many=True)},
        summary="Principal schedule (GET) or record a principal repayment (POST)",
    )
    @action(detail=True, methods=["get", "post"])
    def repayments(self, request, *args, **kwargs):
        loan = self.get_object()
        if request.method == "GET":
            qs = PrincipalChange.objects.filter(loan=loan).order_by("effective_date", "id")
            return self._page(qs, PrincipalChangeSerializer)
        ser = RepaymentSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        v = ser.validated_data
        change = services.loan_repay(
            actor=request.user,
            loan=loan,
            amount=v["amount"],
            on=v["date"],
            now=clock.now(),
            reason=v["reason"],
        )
        return self._loan_response(
            loan, status.HTTP_201_CREATED, repayment=PrincipalChangeSerializer(change).data
        )

    @extend_schema(
        request=SettlementRequestSerializer,
        responses={201: SettlementSerializer, 200: SettlementSerializer(many=True)},
        summary="Settlements (GET) or settle accrued interest up to a date (POST)",
    )
    @action(detail=True, methods=["get", "post"], url_path="interest-settlements")
    def interest_settlements(self, request, *args, **kwargs):
        loan = self.get_object()
        if request.method == "GET":
            qs = InterestSettlement.objects.filter(loan=loan).order_by("date", "id")
            return self._page(qs, SettlementSerializer)
        ser = SettlementRequestSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        settlement = services.loan_interest_settle(
            actor=request.user,
            loan=loan,
            on=ser.validated_data["date"],
            now=clock.now(),
            reason=ser.validated_data["reason"],
        )
        return Response(SettlementSerializer(settlement).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=RecallSerializer, responses={200: LoanSerializer})
    @action(detail=True, methods=["post"])
    def recall(self, request, *args, **kwargs):
        loan = self.get_object()
        ser = RecallSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        loan = services.loan_recall(
            actor=request.user, loan=loan, now=clock.now(), **ser.validated_data
        )
        return self._loan_response(loan)

    @extend_schema(request=ReasonSerializer, responses={200: LoanSerializer})
    @action(detail=True, methods=["post"])
    def default(self, request, *args, **kwargs):
        loan = self.get_object()
        ser = ReasonSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        loan = services.loan_default(
            actor=request.user, loan=loan, now=clock.now(), reason=ser.validated_data["reason"]
        )
        return self._loan_response(loan)

    @extend_schema(request=LiquidationSerializer, responses={200: LoanSerializer})
    @action(detail=True, methods=["post"])
    def liquidation(self, request, *args, **kwargs):
        loan = self.get_object()
        ser = LiquidationSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        v = ser.validated_data
        loan = services.loan_liquidate(
            actor=request.user,
            loan=loan,
            proceeds=v["proceeds"],
            on=v["date"],
            now=clock.now(),
            reason=v["reason"],
        )
        return self._loan_response(loan)

    @extend_schema(request=ReasonSerializer, responses={202: dict})
    @action(detail=True, methods=["post"], url_path="write-off")
    def write_off(self, request, *args, **kwargs):
        loan = self.get_object()
        ser = ReasonSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        approval = services.loan_write_off_request(
            actor=request.user, loan=loan, now=clock.now(), reason=ser.validated_data["reason"]
        )
        return accepted(approval)

    @extend_schema(request=OptionalReasonSerializer, responses={200: LoanSerializer})
    @action(detail=True, methods=["post"])
    def close(self, request, *args, **kwargs):
        loan = self.get_object()
        ser = OptionalReasonSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        loan = services.loan_close(
            actor=request.user, loan=loan, now=clock.now(), reason=ser.validated_data["reason"]
        )
        return self._loan_response(loan)
