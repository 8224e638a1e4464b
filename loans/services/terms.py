"""A loan's derived terms and its principal ledger: the (principal, rate) segments the accrual
engine reads, and the restatement mark a back-dated change leaves."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from django.db.models import Sum

from loans import daycount
from loans.models import (
    Loan,
    LoanBalance,
    LoanStatus,
    LoanTerms,
    PrincipalChange,
    RateChange,
)
from loans.selectors import loan_accrued_through


def terms_rebuild(loan: Loan, *, today: date) -> None:
    """Recompute the loan's (principal, rate) segments from its two schedules, and its current
    rate and outstanding principal. Call with the loan locked and the accrual lock held.
    Segments exist only while the loan is on the book, and stop at its end date."""
    rates = list(RateChange.objects.filter(loan=loan).order_by("effective_date", "id"))
    changes = list(PrincipalChange.objects.filter(loan=loan).order_by("effective_date", "id"))
    rate_on: dict[date, Decimal] = {}
    for rc in rates:
        rate_on[rc.effective_date] = rc.rate  # the latest booked wins on a tie
    delta_on: dict[date, Decimal] = {}
    for pc in changes:
        delta_on[pc.effective_date] = delta_on.get(pc.effective_date, Decimal(0)) + pc.amount
    breaks = sorted(set(rate_on) | set(delta_on))
    spans: list[tuple[date, date | None, Decimal, Decimal]] = []
    principal = Decimal(0)
    rate: Decimal | None = None
    for i, day in enumerate(breaks):
        principal += delta_on.get(day, Decimal(0))
        rate = rate_on.get(day, rate)
        if rate is not None:
            spans.append((day, breaks[i + 1] if i + 1 < len(breaks) else None, principal, rate))
    current = [s for s in spans if s[0] <= today]
    if current:
        loan.rate = current[-1][3]
        loan.outstanding_principal = current[-1][2]
    Loan.objects.filter(pk=loan.pk).update(
        rate=loan.rate, outstanding_principal=loan.outstanding_principal
    )
    LoanTerms.objects.filter(loan=loan).delete()
    # The next accrual run looks this loan up alone (it may miss days before the watermark).
    LoanBalance.objects.filter(loan=loan).update(catch_up=True)
    if loan.status in (LoanStatus.DRAFT, LoanStatus.PENDING_APPROVAL, LoanStatus.REJECTED):
        return
    segments = []
    for start, end, principal, rate in spans:
        if loan.end_date is not None:
            if start >= loan.end_date:
                continue
            end = loan.end_date if end is None else min(end, loan.end_date)
        if principal == 0:
            continue
        segments.append(
            LoanTerms(
                loan=loan,
                day_count=loan.day_count,
                valid_from=start,
                valid_to=end,
                principal=principal,
                rate=rate,
                **daycount.segment_amounts(principal, rate, loan.day_count),
            )
        )
    LoanTerms.objects.bulk_create(segments)


def principal_on(loan: Loan, day: date) -> Decimal:
    total = PrincipalChange.objects.filter(loan=loan, effective_date__lte=day).aggregate(
        s=Sum("amount")
    )["s"]
    return total or Decimal(0)


def _mark_restatement(loan: Loan, *, from_day: date, cause: str) -> bool:
    """Mark the loan for restatement from `from_day` if that day has been accrued already."""
    balance = LoanBalance.objects.select_for_update().get(loan=loan)
    accrued_through = loan_accrued_through(loan)
    if accrued_through is None or from_day > accrued_through:
        return False
    if balance.restate_from is None or from_day < balance.restate_from:
        balance.restate_from = from_day
    causes = [c for c in (balance.restate_cause, cause) if c]
    balance.restate_cause = "; ".join(causes)[:300]
    balance.save(update_fields=["restate_from", "restate_cause"])
    return True


def _principal_change_book(
    loan: Loan,
    *,
    kind: str,
    on: date,
    amount: Decimal,
    actor,
    now: datetime,
    reason: str,
    cause,
) -> tuple[PrincipalChange, bool]:
    """Book a signed principal change dated `on`: the ledger row; the end date when nothing is
    left; the loan's terms rebuilt; a restatement mark naming `cause(change)`. Call with the
    loan locked and the accrual lock held. Returns the change and whether it restates."""
    change = PrincipalChange.objects.create(
        loan=loan,
        kind=kind,
        effective_date=on,
        amount=amount,
        created_by=actor,
        created_at=now,
        reason=reason,
    )
    today = now.date()
    if amount < 0 and principal_on(loan, on) == 0 and principal_on(loan, today) == 0:
        loan.end_date = loan.end_date or on
    terms_rebuild(loan, today=today)
    restating = _mark_restatement(loan, from_day=on, cause=cause(change))
    return change, restating
