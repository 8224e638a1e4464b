"""Approvals over REST (api.md): list, approve, reject, withdraw."""

from __future__ import annotations

import django_filters
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from financing import clock
from financing.api.base import IdempotencyMixin, RolePermission, StrictSerializer
from financing.api.fields import AmountField
from financing.approvals import selectors, services
from financing.approvals.models import ApprovalRequest


class DecisionSerializer(serializers.Serializer):
    checker = serializers.CharField(source="checker.username")
    decision = serializers.CharField()
    reason = serializers.CharField()
    decided_at = serializers.DateTimeField()


class ApprovalSerializer(serializers.ModelSerializer):
    maker = serializers.CharField(source="maker.username")
    target = serializers.SerializerMethodField()
    amount_usd = AmountField(allow_null=True)
    approvals = serializers.IntegerField(source="approvals_count", read_only=True)
    decisions = DecisionSerializer(many=True, read_only=True)

    class Meta:
        model = ApprovalRequest
        fields = [
            "id",
            "action",
            "status",
            "maker",
            "reason",
            "summary",
            "target",
            "payload",
            "amount_usd",
            "approver_roles",
            "required_approvals",
            "approvals",
            "decisions",
            "created_at",
            "decided_at",
            "result",
        ]

    def get_target(self, obj) -> dict | None:
        if obj.target_type_id is None:
            return None
        return {
            "type": f"{obj.target_type.app_label}.{obj.target_type.model}",
            "id": obj.target_id,
            "repr": obj.target_repr,
        }


class DecideSerializer(StrictSerializer):
    reason = serializers.CharField(max_length=1000, required=False, allow_blank=True, default="")


class ApprovalFilter(django_filters.FilterSet):
    maker = django_filters.CharFilter(field_name="maker__username")
    awaiting_me = django_filters.BooleanFilter(method="filter_awaiting_me")

    class Meta:
        model = ApprovalRequest
        fields = ["status", "action"]

    def filter_awaiting_me(self, queryset, name, value):
        if not value:
            return queryset
        user = self.request.user
        return (
            queryset.filter(status="pending", approver_roles__contains=[user.role])
            .exclude(maker=user)
            .exclude(decisions__checker=user)
        )


class ApprovalViewSet(
    IdempotencyMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    serializer_class = ApprovalSerializer
    permission_classes = [RolePermission]
    filterset_class = ApprovalFilter
    ordering_fields = ["created_at", "decided_at"]
    capabilities = {
        "list": "approvals.view",
        "retrieve": "approvals.view",
        "approve": "approvals.decide",
        "reject": "approvals.decide",
        "cancel": "approvals.view",
    }

    def get_queryset(self):
        return selectors.approvals_list()

    def _decide(self, request, service, pk, **extra):
        ser = DecideSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        service(approval_id=pk, now=clock.now(), reason=ser.validated_data["reason"], **extra)
        return Response(self.get_serializer(self.get_queryset().get(pk=pk)).data)

    @extend_schema(request=DecideSerializer, responses={200: ApprovalSerializer})
    @action(detail=True, methods=["post"])
    def approve(self, request, pk=None):
        """Approve. The maker can never approve (403); a decided request is 409."""
        return self._decide(request, services.approval_approve, pk, checker=request.user)

    @extend_schema(request=DecideSerializer, responses={200: ApprovalSerializer})
    @action(detail=True, methods=["post"])
    def reject(self, request, pk=None):
        return self._decide(request, services.approval_reject, pk, checker=request.user)

    @extend_schema(request=DecideSerializer, responses={200: ApprovalSerializer})
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        """The maker withdraws a pending request."""
        return self._decide(request, services.approval_cancel, pk, user=request.user)
