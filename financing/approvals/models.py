"""Maker-checker: approval requests, the decisions on them, and the policy per action."""

from __future__ import annotations

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.contrib.postgres.fields import ArrayField
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from simple_history.models import HistoricalRecords

from financing.accounts.roles import CHECKER_ROLES
from financing.fields import amount_field

#: The partial unique index that allows one pending KYC change per counterparty.
ONE_PENDING_KYC_CHANGE = "one_pending_kyc_change_per_counterparty"


class ApprovalPolicy(models.Model):
    """Who may approve an action, and how many approvers it takes by USD amount (tiers)."""

    action = models.CharField(max_length=64, unique=True)
    description = models.CharField(max_length=200)
    approver_roles = ArrayField(models.CharField(max_length=16))
    history = HistoricalRecords()

    class Meta:
        ordering = ["action"]
        verbose_name_plural = "approval policies"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(approver_roles__contained_by=sorted(CHECKER_ROLES))
                & ~models.Q(approver_roles=[]),
                name="policy_roles_are_checker_roles",
            )
        ]

    def __str__(self) -> str:
        return self.action


class ApprovalTier(models.Model):
    policy = models.ForeignKey(ApprovalPolicy, on_delete=models.CASCADE, related_name="tiers")
    min_amount_usd = amount_field(help_text="From this USD amount up")
    approvers_required = models.PositiveSmallIntegerField()
    history = HistoricalRecords()

    class Meta:
        ordering = ["policy", "min_amount_usd"]
        constraints = [
            models.UniqueConstraint(fields=["policy", "min_amount_usd"], name="tier_unique"),
            models.CheckConstraint(
                condition=models.Q(approvers_required__gte=1, approvers_required__lte=5),
                name="tier_approvers_1_5",
            ),
            models.CheckConstraint(
                condition=models.Q(min_amount_usd__gte=0), name="tier_amount_non_negative"
            ),
        ]


class ApprovalRequest(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"
        CANCELLED = "cancelled", "Cancelled"

    action = models.CharField(max_length=64, db_index=True)
    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.PENDING, db_index=True
    )
    maker = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="approvals_made"
    )
    reason = models.TextField(blank=True, default="", help_text="The maker's reason")
    target_type = models.ForeignKey(
        ContentType, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    target_id = models.CharField(max_length=64, blank=True, default="")
    target_repr = models.CharField(max_length=200, blank=True, default="")
    summary = models.CharField(max_length=300, blank=True, default="")
    payload = models.JSONField(encoder=DjangoJSONEncoder, default=dict)
    amount_usd = amount_field(null=True, blank=True)
    approver_roles = ArrayField(models.CharField(max_length=16))
    required_approvals = models.PositiveSmallIntegerField(default=1)
    created_at = models.DateTimeField()
    decided_at = models.DateTimeField(null=True, blank=True)
    result = models.JSONField(encoder=DjangoJSONEncoder, default=dict, blank=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["target_type", "target_id"])]
        constraints = [
            # The decision table's composite foreign key points here, so a decision always
            # carries the request's real maker and the check below can compare them.
            models.UniqueConstraint(fields=["id", "maker"], name="approval_id_maker_unique"),
            models.CheckConstraint(
                condition=models.Q(status__in=["pending", "approved", "rejected", "cancelled"]),
                name="approval_status_known",
            ),
            models.CheckConstraint(
                condition=models.Q(required_approvals__gte=1), name="approval_needs_one"
            ),
            models.CheckConstraint(
                condition=models.Q(status="pending", decided_at__isnull=True)
                | (~models.Q(status="pending") & models.Q(decided_at__isnull=False)),
                name="approval_decided_at_matches_status",
            ),
            # Two pending KYC changes for one counterparty would leave the checker to pick
            # which applies (and the second approval would silently undo the first).
            models.UniqueConstraint(
                fields=["action", "target_type", "target_id"],
                condition=models.Q(status="pending", action="counterparty.kyc_change"),
                name=ONE_PENDING_KYC_CHANGE,
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.action}"


class ApprovalDecision(models.Model):
    """One checker's decision. Append-only. The maker can never be the checker (DB check)."""

    class Decision(models.TextChoices):
        APPROVE = "approve", "Approve"
        REJECT = "reject", "Reject"

    request = models.ForeignKey(ApprovalRequest, on_delete=models.PROTECT, related_name="decisions")
    maker = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    checker = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="approval_decisions"
    )
    decision = models.CharField(max_length=8, choices=Decision.choices)
    reason = models.TextField(blank=True, default="")
    decided_at = models.DateTimeField()

    class Meta:
        ordering = ["decided_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["request", "checker"], name="one_decision_per_checker"),
            models.CheckConstraint(
                condition=~models.Q(checker=models.F("maker")), name="maker_never_checks"
            ),
            models.CheckConstraint(
                condition=models.Q(decision__in=["approve", "reject"]), name="decision_known"
            ),
        ]
