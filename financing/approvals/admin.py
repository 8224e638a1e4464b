"""Approvals in the Django admin: browse requests, decisions and policies, change nothing.

A decision made here would skip segregation of duties; policies change on the policies page
(approval_policy_update), which keeps their history and reason.
"""

from django.contrib import admin
from simple_history.admin import SimpleHistoryAdmin

from financing.approvals.models import (
    ApprovalDecision,
    ApprovalPolicy,
    ApprovalRequest,
    ApprovalTier,
)


class ReadOnlyMixin:
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class TierInline(ReadOnlyMixin, admin.TabularInline):
    model = ApprovalTier
    fields = ["min_amount_usd", "approvers_required"]
    extra = 0


class DecisionInline(ReadOnlyMixin, admin.TabularInline):
    model = ApprovalDecision
    fk_name = "request"
    fields = ["checker", "decision", "reason", "decided_at"]
    extra = 0


@admin.register(ApprovalPolicy)
class ApprovalPolicyAdmin(ReadOnlyMixin, SimpleHistoryAdmin):
    list_display = ["action", "description", "approver_roles"]
    search_fields = ["action", "description"]
    inlines = [TierInline]


@admin.register(ApprovalRequest)
class ApprovalRequestAdmin(ReadOnlyMixin, SimpleHistoryAdmin):
    list_display = [
        "id",
        "action",
        "status",
        "maker",
        "target_repr",
        "amount_usd",
        "required_approvals",
        "created_at",
        "decided_at",
    ]
    list_filter = ["status", "action"]
    search_fields = ["action", "summary", "target_repr", "maker__username"]
    list_select_related = ["maker"]
    date_hierarchy = "created_at"
    inlines = [DecisionInline]


@admin.register(ApprovalDecision)
class ApprovalDecisionAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["request", "checker", "decision", "decided_at"]
    list_filter = ["decision"]
    list_select_related = ["request", "checker"]
