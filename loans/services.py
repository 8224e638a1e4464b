"""Every write to the loan book. The API, the pages, commands and seeders all come here.

Booking, rate changes and write-offs wait for a checker (loans/approvals.py applies them).
Anything that changes a loan's rate or principal schedule takes the accrual lock, rebuilds the
loan's terms and, when dated on or before the last accrued day, marks the loan for restatement:
the next accrual run books adjusting rows naming the cause.
"""

from __future__ import annotations

import itertools
from datetime import date, datetime, timedelta
from decimal import ROUND_DOWN, Decimal
from typing import Any

from django.db import transaction
from django.db.models import Sum

from financing.accounts.roles import Role
from financing.approvals.models import ApprovalRequest
from financing.approvals.services import approval_request_create
from financing.errors import Conflict, Forbidden, InvalidInput
from financing.history import save_stamped
from financing.jobs.services import xact_advisory_lock
from financing.money import quantize_to_asset
from financing.refdata.models import Asset, Counterparty, Desk
from financing.refdata.services import counterparty_assert_can_transact
from loans import daycount
from loans.accrual import ACCRUAL_LOCK
from loans.models import (
    LIVE_STATUSES,
    TRANSITIONS,
    Accrual,
    DayCount,
    Direction,
    InterestSettlement,
    Loan,
    LoanBalance,
    LoanEvent,
    LoanStatus,
    LoanTerms,
    PrincipalChange,
    RateChange,
    SettlementFrequency,
    Term,
)
from loans.selectors import loan_accrued_through, loan_accrued_total

MAX_RATE = Decimal("5")  # 500% a year: anything above is a typo, not a loan
MAX_BACKDATE_DAYS = 366
MAX_FORWARD_DAYS = 366
MAX_TENOR_DAYS = 3660
MARGIN_FIELDS = ("initial_ltv", "warning_ltv", "call_ltv", "liquidation_ltv", "release_ltv")
Kind = LoanEvent.Kind


# ---------------------------------------------------------------- helpers


def _locked(loan_id: int) -> Loan:
    return Loan.objects.select_for_update(of=("self",)).select_related("asset").get(pk=loan_id)


def _event(
    loan: Loan,
    kind: str,
    *,
    actor,
    now: datetime,
    reason: str = "",
    from_status: str = "",
    to_status: str = "",
    data: dict[str, Any] | None = None,
) -> LoanEvent:
    return LoanEvent.objects.create(
        loan=loan,
        kind=kind,
        actor=actor,
        at=now,
        reason=reason,
        from_status=from_status,
        to_status=to_status,
        data=data or {},
    )


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


def _check_amount(value: Decimal, asset: Asset, field: str, *, allow_zero: bool = False) -> None:
    if not isinstance(value, Decimal) or not value.is_finite():
        raise InvalidInput("Enter an amount.", field=field)
    if value < 0 or (value == 0 and not allow_zero):
        raise InvalidInput("The amount must be more than zero.", field=field)
    if value != quantize_to_asset(value, asset.decimals, ROUND_DOWN):
        raise InvalidInput(
            f"{asset.symbol} has {asset.decimals} decimals; this amount has more.", field=field
        )
    if value >= Decimal("1e20"):
        raise InvalidInput("The amount is too large.", field=field)


def _check_rate(rate: Decimal, field: str = "rate") -> None:
    if not isinstance(rate, Decimal) or not rate.is_finite():
        raise InvalidInput("Enter a rate as a fraction, e.g. 0.085.", field=field)
    if rate < 0 or rate > MAX_RATE:
        raise InvalidInput(
            f"The rate is a yearly fraction between 0 and {MAX_RATE} (0.085 = 8.5%).", field=field
        )
    if rate != rate.quantize(Decimal("1e-10")):
        raise InvalidInput("A rate has at most 10 decimal places.", field=field)


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


# ---------------------------------------------------------------- booking


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
        from loans import booking_checks

        flags = booking_checks.run_checks(
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
    # Apps above the loan book that booked it (the borrow desk) hear of it (loans/hooks.py).
    from loans import hooks

    hooks.loan_refused(loan=loan, actor=actor, now=now, why=f"booking {word}")
    return loan


# ---------------------------------------------------------------- rate changes


def _require_live(loan: Loan, action: str) -> None:
    if loan.status not in LIVE_STATUSES:
        raise Conflict(
            f"Loan {loan.reference} is {LoanStatus(loan.status).label.lower()}: no {action}."
        )


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


# ---------------------------------------------------------------- repayments


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


# ---------------------------------------------------------------- interest settlement


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


# ---------------------------------------------------------------- recall, default, close


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
            if loan_accrued_through(loan) is None or loan_accrued_through(
                loan
            ) < loan.end_date - timedelta(days=1):
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
    from django.db.models import Q

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
