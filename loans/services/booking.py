"""Booking a loan: the checks, the higher apps' say (loans.hooks), the approval it waits for,
and what the checker's decision does."""

from __future__ import annotations

import itertools
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db import transaction

from financing.accounts.roles import Role
from financing.approvals.models import ApprovalRequest
from financing.approvals.services import approval_request_create
from financing.errors import Conflict, Forbidden, InvalidInput
from financing.history import save_stamped
from financing.jobs.services import xact_advisory_lock
from financing.refdata.models import Asset, Counterparty, Desk
from financing.refdata.services import counterparty_assert_can_transact
from loans import hooks
from loans.accrual import ACCRUAL_LOCK
from loans.models import (
    MAX_TENOR_DAYS,
    DayCount,
    Direction,
    Loan,
    LoanBalance,
    LoanStatus,
    PrincipalChange,
    RateChange,
    SettlementFrequency,
    Term,
)
from loans.services._common import (
    MAX_BACKDATE_DAYS,
    MAX_FORWARD_DAYS,
    Kind,
    _check_amount,
    _check_rate,
    _event,
    _locked,
)
from loans.services.lifecycle import loan_transition
from loans.services.terms import terms_rebuild

MARGIN_FIELDS = ("initial_ltv", "warning_ltv", "call_ltv", "liquidation_ltv", "release_ltv")


def _check_margin(margin: dict[str, Any]) -> dict[str, Any]:
    clean: dict[str, Any] = {}
    unknown = set(margin) - set(MARGIN_FIELDS) - {"cure_hours"}
    if unknown:
        name = sorted(unknown)[0]
        raise InvalidInput(f"Unknown margin term {name}.", field="margin")
    for name in MARGIN_FIELDS:
        value = margin.get(name)
        if value is None:
            continue
        if not isinstance(value, Decimal) or not value.is_finite() or not 0 < value <= 5:
            raise InvalidInput(f"{name} must be a fraction above 0 (0.75 = 75%).", field="margin")
        clean[name] = value
    order = [
        n
        for n in ("release_ltv", "initial_ltv", "warning_ltv", "call_ltv", "liquidation_ltv")
        if n in clean
    ]
    for low, high in itertools.pairwise(order):
        if clean[low] >= clean[high]:
            raise InvalidInput(
                f"Margin levels must rise: {low} ({clean[low]}) is not below {high} ({clean[high]}).",
                field="margin",
            )
    cure = margin.get("cure_hours")
    if cure is not None:
        if isinstance(cure, bool) or not isinstance(cure, int) or not 1 <= cure <= 720:
            raise InvalidInput(
                "cure_hours is a whole number of hours from 1 to 720.", field="margin"
            )
        clean["cure_hours"] = cure
    return clean


def loan_book(
    *,
    actor,
    now: datetime,
    counterparty: Counterparty,
    direction: str,
    asset: Asset,
    principal: Decimal,
    rate: Decimal,
    day_count: str,
    term: str,
    start_date: date,
    maturity_date: date | None = None,
    recall_notice_days: int | None = None,
    settlement_frequency: str = SettlementFrequency.MONTHLY,
    capitalise_interest: bool = False,
    margin: dict[str, Any] | None = None,
    desk: Desk | None = None,
    external_ref: str = "",
    reason: str = "",
) -> Loan:
    """Book a loan: it waits in pending_approval until a checker approves it (then active).
    A counterparty whose KYC is not approved and current is refused, and nothing is written."""
    if actor.role not in (Role.OPS, Role.ADMIN):
        raise Forbidden("Only operations book loans.")
    today = now.date()
    if direction not in Direction.values:
        raise InvalidInput("Choose lend or borrow.", field="direction")
    if day_count not in DayCount.values:
        raise InvalidInput(f"Choose one of {', '.join(DayCount.values)}.", field="day_count")
    if term not in Term.values:
        raise InvalidInput("Choose open or fixed.", field="term")
    if settlement_frequency not in SettlementFrequency.values:
        raise InvalidInput("Choose how interest settles.", field="settlement_frequency")
    if not asset.is_active:
        raise InvalidInput(f"{asset.symbol} is inactive.", field="asset")
    _check_amount(principal, asset, "principal")
    _check_rate(rate)
    if start_date < today - timedelta(days=MAX_BACKDATE_DAYS):
        raise InvalidInput(
            f"The start date is more than {MAX_BACKDATE_DAYS} days in the past.", field="start_date"
        )
    if start_date > today + timedelta(days=MAX_FORWARD_DAYS):
        raise InvalidInput(
            f"The start date is more than {MAX_FORWARD_DAYS} days ahead.", field="start_date"
        )
    if term == Term.FIXED:
        if maturity_date is None:
            raise InvalidInput("A fixed-term loan needs a maturity date.", field="maturity_date")
        if maturity_date <= start_date:
            raise InvalidInput(
                "The maturity date must be after the start date.", field="maturity_date"
            )
        if (maturity_date - start_date).days > MAX_TENOR_DAYS:
            raise InvalidInput(f"The tenor is over {MAX_TENOR_DAYS} days.", field="maturity_date")
        if recall_notice_days is not None:
            raise InvalidInput(
                "Recall notice applies to open-term loans only.", field="recall_notice_days"
            )
    else:
        if maturity_date is not None:
            raise InvalidInput("An open-term loan has no maturity date.", field="maturity_date")
        if recall_notice_days is None:
            recall_notice_days = 0
    if recall_notice_days is not None and not 0 <= recall_notice_days <= 365:
        raise InvalidInput("Recall notice is 0 to 365 days.", field="recall_notice_days")
    margin_terms = _check_margin(margin or {})
    if len(external_ref) > 100:
        raise InvalidInput("At most 100 characters.", field="external_ref")
    counterparty_assert_can_transact(counterparty=counterparty, on=today)

    with transaction.atomic():
        loan = Loan(
            direction=direction,
            counterparty=counterparty,
            asset=asset,
            desk=desk,
            principal=principal,
            outstanding_principal=principal if start_date <= today else Decimal(0),
            rate=rate,
            day_count=day_count,
            term=term,
            start_date=start_date,
            maturity_date=maturity_date,
            recall_notice_days=recall_notice_days,
            settlement_frequency=settlement_frequency,
            capitalise_interest=capitalise_interest,
            external_ref=external_ref.strip(),
            status=LoanStatus.DRAFT,
            created_by=actor,
            created_at=now,
            **margin_terms,
        )
        save_stamped(loan, actor=actor, reason=reason or "loan booked")
        LoanBalance.objects.create(loan=loan)
        RateChange.objects.create(
            loan=loan,
            effective_date=start_date,
            rate=rate,
            created_by=actor,
            created_at=now,
            reason="rate at booking",
        )
        PrincipalChange.objects.create(
            loan=loan,
            kind=PrincipalChange.Kind.DRAWDOWN,
            effective_date=start_date,
            amount=principal,
            created_by=actor,
            created_at=now,
            reason="principal at booking",
        )
        terms_rebuild(loan, today=today)
        _event(loan, Kind.BOOKED, actor=actor, now=now, reason=reason, to_status=LoanStatus.DRAFT)
        # Higher apps' say on the booking (concentration limits): extra checkers and a note.
        flags = hooks.run_booking_checks(
            counterparty=counterparty,
            asset=asset,
            direction=direction,
            principal=principal,
            term=term,
            start_date=start_date,
            maturity_date=maturity_date,
            now=now,
        )
        extra = sum(f.extra_approvals for f in flags)
        payload: dict[str, Any] = {"loan": loan.pk}
        summary = (
            f"{direction} {principal} {asset.symbol} to/from {counterparty.code} at "
            f"{rate} {day_count}, {term} from {start_date}"
        )
        approval_reason = reason
        if flags:
            payload["booking_flags"] = [f.message for f in flags]
            payload["extra_approvals"] = extra
            if extra:
                why = next(f.message for f in flags if f.extra_approvals)
                summary += f" [+{extra} approval{'s' if extra > 1 else ''}: {why}]"
            note = "\n".join(f"- {f.message}" for f in flags)
            approval_reason = f"{reason}\n\n{note}".strip() if reason else note
        approval = approval_request_create(
            action="loan.book",
            maker=actor,
            payload=payload,
            now=now,
            target=loan,
            summary=summary,
            reason=approval_reason,
            extra_approvals=extra,
        )
        loan_transition(
            loan=loan,
            to=LoanStatus.PENDING_APPROVAL,
            actor=actor,
            now=now,
            kind=Kind.SUBMITTED,
            reason=reason or "submitted for approval",
            data={"approval": approval.pk},
            approval=approval,
        )
    return loan


def loan_book_approved(*, loan_id: int, checker, now: datetime, approval: ApprovalRequest) -> Loan:
    loan = _locked(loan_id)
    if loan.status != LoanStatus.PENDING_APPROVAL:
        raise Conflict(f"Loan {loan.reference} is {loan.status}, not pending approval.")
    counterparty_assert_can_transact(counterparty=loan.counterparty, on=now.date())
    with xact_advisory_lock(ACCRUAL_LOCK):
        loan_transition(
            loan=loan,
            to=LoanStatus.ACTIVE,
            actor=checker,
            now=now,
            kind=Kind.APPROVED,
            reason=f"booking approved (approval #{approval.pk})",
            data={"approval": approval.pk},
        )
        terms_rebuild(loan, today=now.date())
    return loan


def loan_book_refused(
    *, loan_id: int, actor, now: datetime, approval: ApprovalRequest, withdrawn: bool
) -> Loan:
    loan = _locked(loan_id)
    if loan.status != LoanStatus.PENDING_APPROVAL:
        return loan
    word = "withdrawn by the maker" if withdrawn else "rejected"
    loan = loan_transition(
        loan=loan,
        to=LoanStatus.REJECTED,
        actor=actor,
        now=now,
        kind=Kind.REJECTED,
        reason=f"booking {word} (approval #{approval.pk})",
        data={"approval": approval.pk},
        end_date=loan.start_date,
    )
    # Whoever booked it tells its own records (a borrow request is refused with it).
    hooks.loan_refused(loan=loan, actor=actor, now=now, why=f"booking {word}")
    return loan
