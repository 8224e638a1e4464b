"""Money coming back on a live loan: principal repaid, interest settled (or capitalised)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import ROUND_DOWN, Decimal

from django.db import transaction
from django.db.models import Sum

from financing.errors import Conflict, InvalidInput
from financing.history import save_stamped
from financing.jobs.services import xact_advisory_lock
from financing.money import quantize_to_asset
from loans.accrual import ACCRUAL_LOCK
from loans.models import Accrual, InterestSettlement, Loan, LoanBalance, PrincipalChange
from loans.selectors import loan_accrued_through
from loans.services._common import Kind, _check_amount, _event, _locked, _require_live
from loans.services.terms import _principal_change_book, principal_on


def loan_repay(
    *, actor, loan: Loan, amount: Decimal, on: date, now: datetime, reason: str = ""
) -> PrincipalChange:
    """Principal returned on `on` (today or earlier). Principal at the end of that day is
    reduced; repaying everything stops the accrual from that day."""
    today = now.date()
    if on > today:
        raise InvalidInput("A repayment cannot be dated in the future.", field="date")
    with transaction.atomic(), xact_advisory_lock(ACCRUAL_LOCK):
        loan = _locked(loan.pk)
        _require_live(loan, "repayment")
        _check_amount(amount, loan.asset, "amount")
        if on < loan.start_date:
            raise InvalidInput(f"The loan starts on {loan.start_date}.", field="date")
        if loan.end_date and on >= loan.end_date:
            raise InvalidInput(f"The loan stopped accruing on {loan.end_date}.", field="date")
        # The repayment lowers principal on every later day: none may go below zero.
        later = PrincipalChange.objects.filter(loan=loan, effective_date__gt=on)
        lowest = running = principal_on(loan, on)
        for change in later.order_by("effective_date", "id"):
            running += change.amount
            lowest = min(lowest, running)
        if amount > lowest:
            raise InvalidInput(
                f"Outstanding principal from {on} is {lowest} {loan.asset.symbol}; "
                "the repayment is larger.",
                field="amount",
            )
        change, restating = _principal_change_book(
            loan,
            kind=PrincipalChange.Kind.REPAYMENT,
            on=on,
            amount=-amount,
            actor=actor,
            now=now,
            reason=reason,
            cause=lambda c: f"repayment #{c.pk} of {amount} {loan.asset.symbol} on {on}",
        )
        full = loan.end_date is not None
        if full:
            loan.is_overdue = False
        save_stamped(
            loan, actor=actor, reason=reason or ("repaid in full" if full else "repayment")
        )
        _event(
            loan,
            Kind.REPAYMENT,
            actor=actor,
            now=now,
            reason=reason,
            data={
                "amount": str(amount),
                "date": on.isoformat(),
                "full": full,
                "outstanding": str(loan.outstanding_principal),
                "restates": restating,
            },
        )
    return change


def interest_unsettled_before(loan: Loan, day: date) -> Decimal:
    booked = Accrual.objects.filter(loan=loan, date__lt=day).aggregate(s=Sum("amount"))["s"]
    balance = LoanBalance.objects.get(loan=loan)
    return (booked or Decimal(0)) - balance.interest_settled - balance.interest_capitalised


def loan_interest_settle(
    *, actor, loan: Loan, on: date, now: datetime, reason: str = ""
) -> InterestSettlement:
    """Settle the interest accrued for days before `on`, rounded down to the asset's decimals;
    the remainder stays accrued (carried) and is settled next time. A capitalising loan turns
    the settled amount into principal from `on`."""
    today = now.date()
    if on > today:
        raise InvalidInput("A settlement cannot be dated in the future.", field="date")
    with transaction.atomic(), xact_advisory_lock(ACCRUAL_LOCK):
        loan = _locked(loan.pk)
        _require_live(loan, "interest settlement")
        if on <= loan.start_date:
            raise InvalidInput(
                f"Nothing accrues before the start date {loan.start_date}.", field="date"
            )
        balance = LoanBalance.objects.select_for_update().get(loan=loan)
        last_day = on - timedelta(days=1)
        if loan.end_date:
            last_day = min(last_day, loan.end_date - timedelta(days=1))
        accrued_through = loan_accrued_through(loan)
        if accrued_through is None or accrued_through < last_day:
            raise Conflict(
                f"Interest is accrued through {accrued_through or 'no day yet'}; "
                f"run the accrual through {last_day} before settling."
            )
        if balance.restate_from is not None:
            raise Conflict(
                "A back-dated change waits for restatement; run the accrual before settling."
            )
        previous = InterestSettlement.objects.filter(loan=loan).order_by("-date").first()
        if previous and on < previous.date:
            raise InvalidInput(f"Interest was already settled up to {previous.date}.", field="date")
        unsettled = interest_unsettled_before(loan, on)
        amount = quantize_to_asset(unsettled, loan.asset.decimals, ROUND_DOWN)
        if amount <= 0:
            raise Conflict(
                f"Nothing to settle: {unsettled} {loan.asset.symbol} accrued and unsettled "
                f"before {on} is below one unit of the asset's precision."
            )
        capitalise = loan.capitalise_interest
        settlement = InterestSettlement.objects.create(
            loan=loan,
            date=on,
            amount=amount,
            accrued_before=unsettled,
            carried=unsettled - amount,
            capitalised=capitalise,
            created_by=actor,
            created_at=now,
        )
        if capitalise:
            balance.interest_capitalised += amount
            balance.save(update_fields=["interest_capitalised"])
            _principal_change_book(
                loan,
                kind=PrincipalChange.Kind.CAPITALISATION,
                on=on,
                amount=amount,
                actor=actor,
                now=now,
                reason=f"interest capitalised (settlement #{settlement.pk})",
                cause=lambda c: f"interest of {amount} {loan.asset.symbol} capitalised on {on}",
            )
        else:
            balance.interest_settled += amount
            balance.save(update_fields=["interest_settled"])
        _event(
            loan,
            Kind.INTEREST_CAPITALISED if capitalise else Kind.INTEREST_SETTLED,
            actor=actor,
            now=now,
            reason=reason,
            data={
                "settlement": settlement.pk,
                "date": on.isoformat(),
                "amount": str(amount),
                "carried": str(settlement.carried),
            },
        )
    return settlement
