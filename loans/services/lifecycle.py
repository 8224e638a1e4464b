"""A loan's lifecycle after booking: the one transition service, recall, default, liquidation,
write-off, close, and the overdue flag."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import Q

from financing.approvals.models import ApprovalRequest
from financing.approvals.services import approval_request_create
from financing.errors import Conflict, InvalidInput
from financing.history import save_stamped
from financing.jobs.services import xact_advisory_lock
from loans.accrual import ACCRUAL_LOCK
from loans.models import (
    LIVE_STATUSES,
    TRANSITIONS,
    Loan,
    LoanBalance,
    LoanEvent,
    LoanStatus,
    PrincipalChange,
    Term,
)
from loans.selectors import loan_accrued_through, loan_accrued_total
from loans.services._common import Kind, _check_amount, _event, _locked
from loans.services.terms import _principal_change_book, terms_rebuild


def loan_transition(
    *,
    loan: Loan,
    to: str,
    actor,
    now: datetime,
    kind: str,
    reason: str = "",
    data: dict[str, Any] | None = None,
    **fields: Any,
) -> Loan:
    """Move a (locked) loan to `to` if the lifecycle allows it, with its event row."""
    old = loan.status
    if to not in TRANSITIONS[old]:
        raise Conflict(
            f"Loan {loan.reference} is {LoanStatus(old).label.lower()}; it cannot become "
            f"{LoanStatus(to).label.lower()}."
        )
    updated = Loan.objects.filter(pk=loan.pk, status=old).update(status=to, **fields)
    if not updated:
        raise Conflict(f"Loan {loan.reference} changed meanwhile; reload and try again.")
    loan.status = to
    for key, value in fields.items():
        setattr(loan, key, value)
    save_stamped(loan, actor=actor, reason=reason or f"{old} -> {to}")
    _event(
        loan, kind, actor=actor, now=now, reason=reason, from_status=old, to_status=to, data=data
    )
    return loan


def loan_recall(
    *, actor, loan: Loan, now: datetime, notice_days: int | None = None, reason: str = ""
) -> Loan:
    if notice_days is not None and (
        isinstance(notice_days, bool)
        or not isinstance(notice_days, int)
        or not 0 <= notice_days <= 365
    ):
        raise InvalidInput("Notice is 0 to 365 days.", field="notice_days")
    with transaction.atomic():
        loan = _locked(loan.pk)
        if loan.term != Term.OPEN:
            raise Conflict(
                f"Loan {loan.reference} is fixed-term (matures {loan.maturity_date}); only "
                "open-term loans are recalled."
            )
        days = (loan.recall_notice_days or 0) if notice_days is None else notice_days
        due = now.date() + timedelta(days=days)
        return loan_transition(
            loan=loan,
            to=LoanStatus.RECALLED,
            actor=actor,
            now=now,
            kind=Kind.RECALLED,
            reason=reason or f"recalled with {days} days' notice",
            data={"notice_days": days, "due_date": due.isoformat()},
            recall_due_date=due,
        )


def loan_default(*, actor, loan: Loan, now: datetime, reason: str) -> Loan:
    if not reason.strip():
        raise InvalidInput("Say why the loan is in default.", field="reason")
    with transaction.atomic():
        loan = _locked(loan.pk)
        return loan_transition(
            loan=loan,
            to=LoanStatus.DEFAULTED,
            actor=actor,
            now=now,
            kind=Kind.DEFAULTED,
            reason=reason,
        )


def loan_liquidate(
    *, actor, loan: Loan, proceeds: Decimal, on: date, now: datetime, reason: str = ""
) -> Loan:
    """Record the proceeds of liquidating a defaulted loan's collateral, applied to principal."""
    if on > now.date():
        raise InvalidInput("A liquidation cannot be dated in the future.", field="date")
    with transaction.atomic(), xact_advisory_lock(ACCRUAL_LOCK):
        loan = _locked(loan.pk)
        if loan.status != LoanStatus.DEFAULTED:
            raise Conflict(
                f"Loan {loan.reference} is {loan.status}; only defaulted loans are liquidated."
            )
        _check_amount(proceeds, loan.asset, "proceeds", allow_zero=True)
        applied = min(proceeds, loan.outstanding_principal)
        if on < loan.start_date:
            raise InvalidInput(f"The loan starts on {loan.start_date}.", field="date")
        if applied > 0:
            _principal_change_book(
                loan,
                kind=PrincipalChange.Kind.LIQUIDATION,
                on=on,
                amount=-applied,
                actor=actor,
                now=now,
                reason=reason,
                cause=lambda c: f"liquidation #{c.pk}: {applied} {loan.asset.symbol} on {on}",
            )
        fields: dict[str, Any] = {
            "outstanding_principal": loan.outstanding_principal,
            "end_date": loan.end_date,
        }
        return loan_transition(
            loan=loan,
            to=LoanStatus.LIQUIDATED,
            actor=actor,
            now=now,
            kind=Kind.LIQUIDATED,
            reason=reason or "collateral liquidated",
            data={
                "proceeds": str(proceeds),
                "applied": str(applied),
                "surplus": str(proceeds - applied),
            },
            **fields,
        )


def loan_write_off_request(*, actor, loan: Loan, now: datetime, reason: str) -> ApprovalRequest:
    if not reason.strip():
        raise InvalidInput("Say why the loan is written off.", field="reason")
    with transaction.atomic():
        loan = _locked(loan.pk)
        if LoanStatus.WRITTEN_OFF not in TRANSITIONS[loan.status]:
            raise Conflict(
                f"Loan {loan.reference} is {loan.status}; only defaulted or liquidated loans "
                "are written off."
            )
        if ApprovalRequest.objects.filter(
            action="loan.write_off",
            status=ApprovalRequest.Status.PENDING,
            target_id=str(loan.pk),
        ).exists():
            raise Conflict(f"A write-off of loan {loan.reference} already waits for approval.")
        approval = approval_request_create(
            action="loan.write_off",
            maker=actor,
            payload={"loan": loan.pk},
            now=now,
            target=loan,
            summary=f"write off {loan.reference}: {loan.outstanding_principal} {loan.asset.symbol}",
            reason=reason,
        )
        _event(
            loan,
            Kind.WRITE_OFF_REQUESTED,
            actor=actor,
            now=now,
            reason=reason,
            data={"approval": approval.pk},
        )
    return approval


def loan_write_off_apply(*, loan_id: int, checker, now: datetime, approval) -> Loan:
    today = now.date()
    with xact_advisory_lock(ACCRUAL_LOCK):
        loan = _locked(loan_id)
        written = loan.outstanding_principal
        if written > 0:
            _principal_change_book(
                loan,
                kind=PrincipalChange.Kind.WRITE_OFF,
                on=today,
                amount=-written,
                actor=checker,
                now=now,
                reason=f"written off (approval #{approval.pk})",
                cause=lambda c: f"write-off #{c.pk}",
            )
        return loan_transition(
            loan=loan,
            to=LoanStatus.WRITTEN_OFF,
            actor=checker,
            now=now,
            kind=Kind.WRITTEN_OFF,
            reason=approval.reason or "written off",
            data={"approval": approval.pk, "principal_written_off": str(written)},
            end_date=loan.end_date or today,
            outstanding_principal=loan.outstanding_principal,
            is_overdue=False,
        )


def loan_close(*, actor, loan: Loan, now: datetime, reason: str = "") -> Loan:
    """Close a loan whose principal is back and whose interest is settled (what rounding
    carried, below one unit of the asset, stays on record), or one liquidated or written off."""
    with transaction.atomic():
        loan = _locked(loan.pk)
        if loan.status in (LoanStatus.ACTIVE, LoanStatus.RECALLED):
            if loan.outstanding_principal != 0 or loan.end_date is None:
                raise Conflict(
                    f"Loan {loan.reference} still has {loan.outstanding_principal} "
                    f"{loan.asset.symbol} of principal outstanding."
                )
            balance = LoanBalance.objects.get(loan=loan)
            accrued_through = loan_accrued_through(loan)
            if accrued_through is None or accrued_through < loan.end_date - timedelta(days=1):
                raise Conflict("Accrue interest up to the repayment date before closing.")
            unit = Decimal(1).scaleb(-loan.asset.decimals)
            unsettled = (
                loan_accrued_total(loan) - balance.interest_settled - balance.interest_capitalised
            )
            if unsettled >= unit:
                raise Conflict(
                    f"{unsettled} {loan.asset.symbol} of interest is unsettled; "
                    "settle it before closing."
                )
        with xact_advisory_lock(ACCRUAL_LOCK):
            loan_transition(
                loan=loan,
                to=LoanStatus.CLOSED,
                actor=actor,
                now=now,
                kind=Kind.CLOSED,
                reason=reason or "closed",
                end_date=loan.end_date or now.date(),
            )
            terms_rebuild(loan, today=now.date())
        return loan


def loans_flag_overdue(*, now: datetime) -> int:
    """Flag loans past maturity (or recall due date) with principal still out, the day after."""
    today = now.date()
    due = Loan.objects.filter(
        status__in=LIVE_STATUSES, is_overdue=False, outstanding_principal__gt=0
    ).filter(
        Q(term=Term.FIXED, maturity_date__lt=today)
        | Q(status=LoanStatus.RECALLED, recall_due_date__lt=today)
    )
    with transaction.atomic():
        ids = list(due.select_for_update(of=("self",)).values_list("pk", flat=True))
        Loan.objects.filter(pk__in=ids).update(is_overdue=True)
        LoanEvent.objects.bulk_create(
            LoanEvent(
                loan_id=pk,
                kind=Kind.OVERDUE,
                at=now,
                reason="not repaid by its due date",
                data={"flagged_on": today.isoformat()},
            )
            for pk in ids
        )
    return len(ids)
