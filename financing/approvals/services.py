"""The approvals service: every action that needs a checker goes through these functions."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db import models, transaction

from financing.accounts.roles import CHECKER_ROLES, Role
from financing.approvals import registry
from financing.approvals.models import (
    ApprovalDecision,
    ApprovalPolicy,
    ApprovalRequest,
    ApprovalTier,
)
from financing.approvals.selectors import policy_approvers_required
from financing.errors import Conflict, Forbidden, InvalidInput, NotFound
from financing.history import save_stamped

Status = ApprovalRequest.Status


def approval_policies_sync() -> int:
    """Create a policy row, with its default tiers, for every registered action lacking one."""
    created = 0
    for action in registry.all_actions():
        if not ApprovalPolicy.objects.filter(action=action.name).exists():
            approval_policy_for(action.name)
            created += 1
    return created


def approval_policy_for(action_name: str) -> ApprovalPolicy:
    action = registry.get(action_name)
    policy, created = ApprovalPolicy.objects.get_or_create(
        action=action.name,
        defaults={
            "description": action.description,
            "approver_roles": sorted(action.default_roles),
        },
    )
    if created:
        ApprovalTier.objects.bulk_create(
            ApprovalTier(policy=policy, min_amount_usd=amount, approvers_required=count)
            for amount, count in action.default_tiers
        )
    return policy


def approval_policy_update(
    *, action: str, approver_roles: list[str], tiers: list[tuple[Decimal, int]], actor, reason: str
) -> ApprovalPolicy:
    """`action` names the policy being changed (its key, not an input value): an action
    nobody registered is NotFound, before anything is written."""
    try:
        registry.get(action)
    except LookupError:
        known = ", ".join(a.name for a in registry.all_actions())
        raise NotFound(
            f"No approval action named {action!r}; the actions with a policy are: {known}."
        ) from None
    roles = sorted(set(approver_roles))
    if not roles:
        raise InvalidInput("At least one approver role is required.", field="approver_roles")
    bad = [r for r in roles if r not in CHECKER_ROLES]
    if bad:
        raise InvalidInput(
            f"These roles can never approve: {', '.join(bad)}.", field="approver_roles"
        )
    if not tiers or min(amount for amount, _ in tiers) != 0:
        raise InvalidInput("The tiers must start at 0 USD.", field="tiers")
    with transaction.atomic():
        policy = approval_policy_for(action)
        policy = ApprovalPolicy.objects.select_for_update().get(pk=policy.pk)
        policy.approver_roles = roles
        save_stamped(policy, actor=actor, reason=reason or "policy updated")
        policy.tiers.all().delete()
        ApprovalTier.objects.bulk_create(
            ApprovalTier(policy=policy, min_amount_usd=amount, approvers_required=count)
            for amount, count in tiers
        )
    return policy


def approval_request_create(
    *,
    action: str,
    maker,
    payload: dict[str, Any],
    now: datetime,
    target: models.Model | None = None,
    amount_usd: Decimal | None = None,
    summary: str = "",
    reason: str = "",
    extra_approvals: int = 0,
) -> ApprovalRequest:
    """Record a change that waits for a checker. The caller validated the payload already.
    `extra_approvals` raises the number of distinct checkers above the policy's (a booking past
    a hard concentration limit, say)."""
    if maker.role == Role.AUDITOR:
        raise Forbidden("Auditors cannot make changes.")
    if (
        isinstance(extra_approvals, bool)
        or not isinstance(extra_approvals, int)
        or not (0 <= extra_approvals <= 5)
    ):
        raise InvalidInput("Extra approvals: 0 to 5.", field="extra_approvals")
    policy = approval_policy_for(action)
    request = ApprovalRequest(
        action=action,
        maker=maker,
        payload=payload,
        amount_usd=amount_usd,
        summary=summary[:300],
        reason=reason,
        approver_roles=list(policy.approver_roles),
        required_approvals=policy_approvers_required(policy, amount_usd) + extra_approvals,
        created_at=now,
    )
    if target is not None:
        request.target_type = ContentType.objects.get_for_model(target)
        request.target_id = str(target.pk)
        request.target_repr = str(target)[:200]
    save_stamped(request, actor=maker, reason=reason or "approval requested")
    return request


def _locked(approval_id: int) -> ApprovalRequest:
    try:
        return ApprovalRequest.objects.select_for_update(of=("self",)).get(pk=approval_id)
    except (ApprovalRequest.DoesNotExist, ValueError, TypeError):
        raise NotFound(f"Approval {approval_id} does not exist.") from None


def _check_checker(request: ApprovalRequest, checker) -> None:
    if checker.pk == request.maker_id:
        raise Forbidden("You made this request: the maker can never approve or reject it.")
    if not checker.is_active or checker.role not in CHECKER_ROLES:
        raise Forbidden("Your role can never approve or reject requests.")
    if checker.role not in request.approver_roles:
        roles = ", ".join(request.approver_roles)
        raise Forbidden(f"Only these roles may decide on {request.action}: {roles}.")


def _check_pending(request: ApprovalRequest) -> None:
    if request.status != Status.PENDING:
        raise Conflict(f"Approval {request.pk} is already {request.status}.")


def approval_approve(
    *, approval_id: int, checker, now: datetime, reason: str = ""
) -> ApprovalRequest:
    """Approve; the last approval the policy requires applies the action, exactly once."""
    with transaction.atomic():
        request = _locked(approval_id)
        _check_checker(request, checker)
        _check_pending(request)
        if request.decisions.filter(checker=checker).exists():
            raise Conflict(f"You have already approved approval {request.pk}.")
        ApprovalDecision.objects.create(
            request=request,
            maker_id=request.maker_id,
            checker=checker,
            decision=ApprovalDecision.Decision.APPROVE,
            reason=reason,
            decided_at=now,
        )
        approvals = request.decisions.filter(decision=ApprovalDecision.Decision.APPROVE).count()
        if approvals < request.required_approvals:
            return request
        request.status = Status.APPROVED
        request.decided_at = now
        action = registry.get(request.action)
        request.result = action.apply(request=request, checker=checker, now=now) or {}
        save_stamped(request, actor=checker, reason=reason or "approved")
        return request


def approval_reject(
    *, approval_id: int, checker, now: datetime, reason: str = ""
) -> ApprovalRequest:
    with transaction.atomic():
        request = _locked(approval_id)
        _check_checker(request, checker)
        _check_pending(request)
        if request.decisions.filter(checker=checker).exists():
            raise Conflict(f"You have already approved approval {request.pk}.")
        ApprovalDecision.objects.create(
            request=request,
            maker_id=request.maker_id,
            checker=checker,
            decision=ApprovalDecision.Decision.REJECT,
            reason=reason,
            decided_at=now,
        )
        request.status = Status.REJECTED
        request.decided_at = now
        action = registry.get(request.action)
        if action.on_reject:
            request.result = action.on_reject(request=request, checker=checker, now=now) or {}
        save_stamped(request, actor=checker, reason=reason or "rejected")
        return request


def approval_cancel(*, approval_id: int, user, now: datetime, reason: str = "") -> ApprovalRequest:
    """The maker withdraws a request that nobody has decided on yet."""
    with transaction.atomic():
        request = _locked(approval_id)
        if user.pk != request.maker_id:
            raise Forbidden("Only the maker can withdraw an approval request.")
        _check_pending(request)
        return _withdraw(request, actor=user, now=now, reason=reason or "withdrawn by maker")


def approval_withdraw(*, approval_id: int, actor, now: datetime, reason: str) -> ApprovalRequest:
    """Withdraw a pending request because the change it belongs with was refused (the external
    borrow loan of a borrow request whose lend loan was rejected): a consequence of `actor`'s
    decision, not a maker's choice, so no maker check; the reason names the cause."""
    with transaction.atomic():
        request = _locked(approval_id)
        _check_pending(request)
        return _withdraw(request, actor=actor, now=now, reason=reason)


def _withdraw(request: ApprovalRequest, *, actor, now: datetime, reason: str) -> ApprovalRequest:
    request.status = Status.CANCELLED
    request.decided_at = now
    action = registry.get(request.action)
    if action.on_cancel:
        request.result = action.on_cancel(request=request, checker=actor, now=now) or {}
    save_stamped(request, actor=actor, reason=reason)
    return request
