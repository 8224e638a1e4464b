"""Rate changes: asked for by a maker, applied (and restated when back-dated) on approval."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal

from django.db import transaction

from financing.approvals.models import ApprovalRequest
from financing.approvals.services import approval_request_create
from financing.errors import InvalidInput
from financing.history import save_stamped
from financing.jobs.services import xact_advisory_lock
from loans.accrual import ACCRUAL_LOCK
from loans.models import Loan, RateChange
from loans.services._common import (
    MAX_FORWARD_DAYS,
    Kind,
    _check_rate,
    _event,
    _locked,
    _require_live,
)
from loans.services.terms import _mark_restatement, terms_rebuild


def loan_rate_change_request(
    *, actor, loan: Loan, rate: Decimal, effective_date: date, now: datetime, reason: str = ""
) -> ApprovalRequest:
    """Ask for a rate change from `effective_date` (past dates restate, future dates wait)."""
    _check_rate(rate)
    today = now.date()
    if effective_date < loan.start_date:
        raise InvalidInput(
            f"The loan starts on {loan.start_date}; a rate change cannot be earlier.",
            field="effective_date",
        )
    if effective_date > today + timedelta(days=MAX_FORWARD_DAYS):
        raise InvalidInput("The effective date is more than a year ahead.", field="effective_date")
    if loan.end_date and effective_date >= loan.end_date:
        raise InvalidInput(f"The loan stopped accruing on {loan.end_date}.", field="effective_date")
    if loan.maturity_date and effective_date > loan.maturity_date:
        raise InvalidInput(f"The loan matures on {loan.maturity_date}.", field="effective_date")
    with transaction.atomic():
        loan = _locked(loan.pk)
        _require_live(loan, "rate change")
        approval = approval_request_create(
            action="loan.rate_change",
            maker=actor,
            payload={
                "loan": loan.pk,
                "rate": str(rate),
                "effective_date": effective_date.isoformat(),
            },
            now=now,
            target=loan,
            summary=f"{loan.reference}: rate {loan.rate} -> {rate} from {effective_date}",
            reason=reason,
        )
        _event(
            loan,
            Kind.RATE_CHANGE_REQUESTED,
            actor=actor,
            now=now,
            reason=reason,
            data={
                "approval": approval.pk,
                "rate": str(rate),
                "effective_date": str(effective_date),
            },
        )
    return approval


def loan_rate_change_apply(
    *, loan_id: int, rate: Decimal, effective_date: date, checker, now: datetime, approval
) -> RateChange:
    with xact_advisory_lock(ACCRUAL_LOCK):
        loan = _locked(loan_id)
        _require_live(loan, "rate change")
        change = RateChange.objects.create(
            loan=loan,
            effective_date=effective_date,
            rate=rate,
            approval=approval,
            created_by=approval.maker,
            created_at=now,
            reason=approval.reason,
        )
        old_rate = loan.rate
        terms_rebuild(loan, today=now.date())
        cause = (
            f"rate change #{change.pk} to {rate} from {effective_date} (approval #{approval.pk})"
        )
        restating = _mark_restatement(loan, from_day=effective_date, cause=cause)
        save_stamped(loan, actor=checker, reason=f"rate change approved (#{approval.pk})")
        _event(
            loan,
            Kind.RATE_CHANGED,
            actor=checker,
            now=now,
            reason=approval.reason,
            data={
                "approval": approval.pk,
                "rate": str(rate),
                "previous_rate": str(old_rate),
                "effective_date": effective_date.isoformat(),
                "restates": restating,
            },
        )
    return change
