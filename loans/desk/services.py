"""The borrow desk: trading desks' borrow requests, their priority and SLA, race-free
allocation of lendable inventory, booking as loans, and expiry (domain.md, Borrow desk).

Allocation locks the asset's AssetInventory row, then reads what is committed with one query,
so concurrent allocators of one asset queue behind each other and never over-allocate."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q, Sum

from financing.accounts.roles import can
from financing.alerts.models import LIVE_STATUSES, Alert
from financing.alerts.services import AlertSpec, alerts_raise_many, alerts_resolve
from financing.approvals.services import approval_withdraw
from financing.errors import Conflict, Forbidden, InvalidInput, NotFound
from financing.money import MAX_AMOUNT, fits_decimals
from financing.refdata.models import Asset, Counterparty, Desk
from loans.desk.models import (
    OPEN_STATUSES,
    REQUEST_TRANSITIONS,
    Allocation,
    BorrowRequest,
    BorrowRequestEvent,
    RequestStatus,
    Urgency,
)
from loans.desk.selectors import available_locked, request_is_own, requests_past_sla
from loans.models import MAX_TENOR_DAYS, LoanStatus
from loans.services import loan_book

#: A request's expected revenue, in USD, is at most this (a figure for the priority score).
MAX_REVENUE = Decimal("1e12")
MAX_NEEDED_BY = timedelta(days=366)
#: An SLA breach alert's dedupe key is this and the request's id.
SLA_ALERT_PREFIX = "borrow_sla:"

# ---------------------------------------------------------------- priority

#: The priority score, 0-100, higher first (documented in README, Borrow desk):
#:   urgency          low 10, normal 25, high 40, critical 50
#:   revenue impact   up to 25: 5 x log10(1 + expected revenue in USD / 1,000), capped
#:   desk risk        low 15, medium 10, high 0 (a riskier desk waits a little longer)
#:   time pressure    needed within 4 h: 10, 24 h: 6, 72 h: 3, later: 0
URGENCY_POINTS = {Urgency.LOW: 10, Urgency.NORMAL: 25, Urgency.HIGH: 40, Urgency.CRITICAL: 50}
RISK_POINTS = {"low": 15, "medium": 10, "high": 0}


def priority_score(
    *,
    urgency: str,
    expected_revenue_usd: Decimal,
    desk_risk: str,
    needed_by: datetime,
    now: datetime,
) -> tuple[Decimal, dict[str, Any]]:
    revenue = max(expected_revenue_usd, Decimal(0))
    revenue_points = min(Decimal(25), 5 * (1 + revenue / 1000).log10()).quantize(
        Decimal("0.01"), ROUND_HALF_EVEN
    )
    left = needed_by - now
    time_points = (
        10
        if left <= timedelta(hours=4)
        else 6
        if left <= timedelta(hours=24)
        else 3
        if left <= timedelta(hours=72)
        else 0
    )
    parts = {
        "urgency": URGENCY_POINTS[urgency],
        "revenue": revenue_points,
        "desk_risk": RISK_POINTS.get(desk_risk, 0),
        "time": time_points,
    }
    total = sum((Decimal(v) for v in parts.values()), Decimal(0))
    # JSON-able detail: the revenue points as the decimal string they are.
    return total.quantize(Decimal("0.01"), ROUND_HALF_EVEN), {
        **parts,
        "revenue": str(revenue_points),
    }


# ---------------------------------------------------------------- helpers


def _event(request: BorrowRequest, kind: str, *, actor, now, note="", data=None, frm="", to=""):
    BorrowRequestEvent.objects.create(
        request=request,
        kind=kind,
        actor=actor,
        at=now,
        note=note,
        data=data or {},
        from_status=frm,
        to_status=to,
    )


def _transition(
    request: BorrowRequest, to: str, *, actor, now, kind: str, note="", data=None, **fields
) -> BorrowRequest:
    """The one place a request changes status: checks the map, conditional update, event."""
    frm = request.status
    if to != frm and to not in REQUEST_TRANSITIONS[frm]:
        raise Conflict(
            f"{request.reference} is {frm.replace('_', ' ')}: it cannot become "
            f"{to.replace('_', ' ')}."
        )
    moved = BorrowRequest.objects.filter(pk=request.pk, status=frm).update(
        status=to, updated_at=now, **fields
    )
    if not moved:
        raise Conflict(f"{request.reference} changed meanwhile; reload it.")
    for k, v in fields.items():
        setattr(request, k, v)
    request.status = to
    request.updated_at = now
    _event(request, kind, actor=actor, now=now, note=note, data=data, frm=frm, to=to)
    return request


def _locked(request_id: int) -> BorrowRequest:
    """The request, locked, with its asset (the checks), desk, counterparty and requester (the
    API answer) in the same statement; 404 if there is none."""
    request = (
        BorrowRequest.objects.select_for_update(of=("self",))
        .select_related("asset", "desk", "counterparty", "requested_by")
        .filter(pk=request_id)
        .first()
    )
    if request is None:
        raise NotFound(f"No borrow request {request_id}.")
    return request


def _check_decimals(value: Decimal, asset: Asset, field: str) -> None:
    if not isinstance(value, Decimal) or not value.is_finite():
        raise InvalidInput("A decimal, as a string.", field=field)
    if value <= 0:
        raise InvalidInput("Must be above zero.", field=field)
    if value > MAX_AMOUNT:
        raise InvalidInput("Implausibly large.", field=field)
    if not fits_decimals(value, asset.decimals):
        raise InvalidInput(f"{asset.symbol} has {asset.decimals} decimals.", field=field)


def _release(allocations, *, now) -> Decimal:
    """Release the given allocations of a locked request; how much they held. The request's
    lock keeps its allocations from changing between the sum and the update."""
    released = allocations.aggregate(total=Sum("quantity"))["total"] or Decimal(0)
    allocations.update(status=Allocation.Status.RELEASED, released_at=now)
    return released


def _release_allocations(request: BorrowRequest, *, now) -> Decimal:
    """Release what is reserved and not booked; the request's allocated figure follows."""
    return _release(
        Allocation.objects.filter(request_id=request.pk, status=Allocation.Status.ACTIVE), now=now
    )


# ---------------------------------------------------------------- submit, cancel


def borrow_request_submit(
    *,
    actor,
    asset: Asset,
    quantity: Decimal,
    max_rate: Decimal,
    needed_by: datetime,
    urgency: str,
    expected_revenue_usd: Decimal,
    purpose: str,
    now: datetime,
    tenor_days: int | None = None,
    counterparty: Counterparty | None = None,
) -> BorrowRequest:
    """A trading desk asks to borrow: scored, given its SLA clock, submitted."""
    if not can(actor, "borrow.submit") or actor.desk_id is None:
        raise Forbidden("Only a trading-desk user submits borrow requests.")
    if not asset.is_active:
        raise InvalidInput(f"{asset.symbol} is inactive.", field="asset")
    _check_decimals(quantity, asset, "quantity")
    if not isinstance(max_rate, Decimal) or not max_rate.is_finite() or not 0 <= max_rate <= 5:
        raise InvalidInput("A yearly rate as a fraction from 0 to 5 (0.08 = 8%).", field="max_rate")
    if tenor_days is not None and not 1 <= tenor_days <= MAX_TENOR_DAYS:
        raise InvalidInput(
            f"1 to {MAX_TENOR_DAYS} days, or none for open term.", field="tenor_days"
        )
    if urgency not in Urgency.values:
        raise InvalidInput(f"One of {', '.join(Urgency.values)}.", field="urgency")
    if needed_by.tzinfo is None:
        raise InvalidInput("A time with its UTC offset.", field="needed_by")
    if needed_by <= now:
        raise InvalidInput("needed_by is in the past.", field="needed_by")
    if needed_by > now + MAX_NEEDED_BY:
        raise InvalidInput("needed_by is more than a year ahead.", field="needed_by")
    if (
        not isinstance(expected_revenue_usd, Decimal)
        or not expected_revenue_usd.is_finite()
        or not 0 <= expected_revenue_usd <= MAX_REVENUE
    ):
        raise InvalidInput("A USD amount from 0 to 1e12.", field="expected_revenue_usd")
    purpose = (purpose or "").strip()
    if not purpose:
        raise InvalidInput("Say what the asset is for.", field="purpose")
    if len(purpose) > 500:
        raise InvalidInput("At most 500 characters.", field="purpose")
    desk = Desk.objects.get(pk=actor.desk_id)
    score, detail = priority_score(
        urgency=urgency,
        expected_revenue_usd=expected_revenue_usd,
        desk_risk=desk.risk_profile,
        needed_by=needed_by,
        now=now,
    )
    with transaction.atomic():
        request = BorrowRequest.objects.create(
            desk=desk,
            requested_by=actor,
            asset=asset,
            quantity=quantity,
            max_rate=max_rate,
            tenor_days=tenor_days,
            needed_by=needed_by,
            urgency=urgency,
            expected_revenue_usd=expected_revenue_usd,
            purpose=purpose,
            counterparty=counterparty,
            status=RequestStatus.SUBMITTED,
            priority=score,
            priority_detail=detail,
            sla_due_at=now + timedelta(minutes=settings.BORROW_SLA_MINUTES),
            created_at=now,
            updated_at=now,
        )
        _event(
            request,
            "submitted",
            actor=actor,
            now=now,
            to=RequestStatus.SUBMITTED,
            data={"priority": str(score), **detail},
        )
    return request


def borrow_request_cancel(*, actor, request: BorrowRequest, now: datetime, reason: str = ""):
    with transaction.atomic():
        request = _locked(request.pk)
        if not (request_is_own(actor, request) or can(actor, "borrow.work")):
            raise Forbidden("Only the requesting desk or operations cancel a request.")
        if request.status not in OPEN_STATUSES:
            raise Conflict(f"{request.reference} is {request.status}: nothing to cancel.")
        released = _release_allocations(request, now=now)
        return _transition(
            request,
            RequestStatus.CANCELLED,
            actor=actor,
            now=now,
            kind="cancelled",
            note=reason,
            data={"released": str(released)},
            allocated_quantity=request.allocated_quantity - released,
        )


def borrow_request_reject(*, actor, request: BorrowRequest, now: datetime, reason: str):
    if not can(actor, "borrow.work"):
        raise Forbidden("Only operations reject borrow requests.")
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput("Say why the request is rejected.", field="reason")
    with transaction.atomic():
        request = _locked(request.pk)
        if request.status not in OPEN_STATUSES:
            raise Conflict(f"{request.reference} is {request.status}: it cannot be rejected.")
        released = _release_allocations(request, now=now)
        return _transition(
            request,
            RequestStatus.REJECTED,
            actor=actor,
            now=now,
            kind="rejected",
            note=reason,
            allocated_quantity=request.allocated_quantity - released,
            decision_reason=reason,
            first_response_at=request.first_response_at or now,
        )


# ---------------------------------------------------------------- allocation


def borrow_request_allocate(
    *, actor, request: BorrowRequest | int, now: datetime, quantity: Decimal | None = None
) -> BorrowRequest:
    """Reserve inventory for a request: the quantity asked (default: all that remains), or as
    much as is available. Availability is read only once the asset's inventory row is locked,
    so concurrent allocations queue and never over-allocate. 409 when nothing is available.

    Lock order: the request, then its asset's inventory (nothing takes them the other way
    round). The request's own checks run before the inventory lock, so allocators of one asset
    hold it only for the inventory figures and the writes."""
    if not can(actor, "borrow.work"):
        raise Forbidden("Only operations allocate inventory.")
    with transaction.atomic():
        # The request or its id: it is read (and locked) here either way.
        request = _locked(request if isinstance(request, int) else request.pk)
        asset_id = request.asset_id
        if request.status not in OPEN_STATUSES:
            raise Conflict(f"{request.reference} is {request.status}: nothing to allocate.")
        remaining = request.remaining
        if remaining <= 0:
            raise Conflict(f"{request.reference} is fully allocated.")
        wanted = remaining
        if quantity is not None:
            _check_decimals(quantity, request.asset, "quantity")
            if quantity > remaining:
                raise InvalidInput(
                    f"Only {remaining} {request.asset.symbol} remains to allocate.",
                    field="quantity",
                )
            wanted = quantity
        available = available_locked(asset_id, now=now)
        step = Decimal(1).scaleb(-request.asset.decimals)
        take = min(wanted, available).quantize(step, rounding="ROUND_DOWN")
        if take <= 0:
            raise Conflict(
                f"No {request.asset.symbol} is available to allocate (available {available})."
            )
        Allocation.objects.create(
            request=request, asset_id=asset_id, quantity=take, created_by=actor, created_at=now
        )
        allocated = request.allocated_quantity + take
        to = (
            RequestStatus.ALLOCATED
            if allocated + request.sourced_quantity >= request.quantity
            else RequestStatus.PARTIALLY_ALLOCATED
        )
        return _transition(
            request,
            to,
            actor=actor,
            now=now,
            kind="allocated",
            note=f"{take} {request.asset.symbol} reserved",
            data={"quantity": str(take), "available_before": str(available)},
            allocated_quantity=allocated,
            first_response_at=request.first_response_at or now,
        )


# ---------------------------------------------------------------- booking


def borrow_request_book(
    *,
    actor,
    request: BorrowRequest,
    now: datetime,
    rate: Decimal | None = None,
    counterparty: Counterparty | None = None,
    day_count: str = "ACT/360",
    external_lender: Counterparty | None = None,
    external_rate: Decimal | None = None,
) -> BorrowRequest:
    """Turn the allocation into a lend loan to the request's counterparty (pending approval,
    through the loan services and their KYC gate) and, optionally, borrow the remainder from
    an external lender as a borrow loan. Both loans or neither."""
    if not can(actor, "borrow.work"):
        raise Forbidden("Only operations book borrow requests.")
    with transaction.atomic():
        request = _locked(request.pk)
        if request.status not in OPEN_STATUSES:
            raise Conflict(f"{request.reference} is {request.status}: nothing to book.")
        client = counterparty or request.counterparty
        if client is None:
            raise InvalidInput(
                "Name the counterparty the loan is booked with.", field="counterparty"
            )
        rate = request.max_rate if rate is None else rate
        if not isinstance(rate, Decimal) or not rate.is_finite() or rate < 0:
            raise InvalidInput("A yearly rate as a fraction.", field="rate")
        if rate > request.max_rate:
            raise InvalidInput(f"The desk accepts at most {request.max_rate}.", field="rate")
        remaining = request.remaining
        if external_lender is None and request.allocated_quantity <= 0:
            raise Conflict(f"{request.reference} has nothing allocated to book.")
        if external_lender is not None and remaining <= 0:
            raise InvalidInput("Nothing remains to source externally.", field="external_lender")
        today = now.date()
        term = (
            {"term": "fixed", "maturity_date": today + timedelta(days=request.tenor_days)}
            if request.tenor_days
            else {"term": "open", "recall_notice_days": 1}
        )
        # What both loans share: the asset, the desk, the terms, who books them and when.
        booked = dict(
            actor=actor,
            now=now,
            asset=request.asset,
            day_count=day_count,
            start_date=today,
            desk=request.desk,
            **term,
        )
        active = list(
            Allocation.objects.select_for_update().filter(
                request=request, status=Allocation.Status.ACTIVE
            )
        )
        loan = None
        if active:
            principal = sum((a.quantity for a in active), Decimal(0))
            loan = loan_book(
                **booked,
                counterparty=client,
                direction="lend",
                principal=principal,
                rate=rate,
                external_ref=f"{request.reference}",
                reason=f"borrow request {request.reference}",
            )
            Allocation.objects.filter(pk__in=[a.pk for a in active]).update(
                status=Allocation.Status.BOOKED, loan=loan
            )
        external = None
        sourced = Decimal(0)
        if external_lender is not None:
            ext_rate = external_rate if external_rate is not None else rate
            if not isinstance(ext_rate, Decimal) or not ext_rate.is_finite() or ext_rate < 0:
                raise InvalidInput("A yearly rate as a fraction.", field="external_rate")
            external = loan_book(
                **booked,
                counterparty=external_lender,
                direction="borrow",
                principal=remaining,
                rate=ext_rate,
                external_ref=f"{request.reference}-EXT",
                reason=f"sourced externally for borrow request {request.reference}",
            )
            sourced = remaining
        return _transition(
            request,
            RequestStatus.BOOKED,
            actor=actor,
            now=now,
            kind="booked",
            note="booked as loan(s) pending approval",
            data={
                "loan": loan.pk if loan else None,
                "external_loan": external.pk if external else None,
            },
            loan=loan or request.loan,
            external_loan=external,
            sourced_quantity=sourced,
            first_response_at=request.first_response_at or now,
        )


def borrow_request_loan_refused(*, loan, actor, now: datetime, why: str) -> BorrowRequest | None:
    """The checker refused (or the maker withdrew) a loan booked from a borrow request (the
    loan book calls every listener registered in loans/hooks.py).

    The lend loan refused: its allocations are released and the request is rejected, saying
    why; the desk may ask again. A request is booked as both loans or neither, so an external
    borrow loan still waiting for approval beside it is withdrawn too and the sourced quantity
    released. An externally sourced loan refused alone leaves the request booked (its inventory
    part stands) and is recorded on the request's timeline."""
    request = (
        BorrowRequest.objects.select_for_update(of=("self",))
        .select_related("asset")
        .filter(Q(loan_id=loan.pk) | Q(external_loan_id=loan.pk))
        .first()
    )
    if request is None:
        return None
    if request.external_loan_id == loan.pk and request.loan_id != loan.pk:
        _event(
            request,
            "external_loan_refused",
            actor=actor,
            now=now,
            note=f"{loan.reference} {why}",
            data={"loan": loan.pk},
        )
        return request
    released = _release(
        Allocation.objects.filter(
            request_id=request.pk, loan_id=loan.pk, status=Allocation.Status.BOOKED
        ),
        now=now,
    )
    if request.status != RequestStatus.BOOKED:
        return request
    external = request.external_loan
    withdrawn = external is not None and external.status == LoanStatus.PENDING_APPROVAL
    if withdrawn:
        # Withdrawing its approval refuses the external loan through the same path, which
        # records it on this request's timeline (the branch above).
        approval_withdraw(
            approval_id=external.approval_id,
            actor=actor,
            now=now,
            reason=f"lend loan {loan.reference} of {request.reference} {why}",
        )
    sourced = request.sourced_quantity if withdrawn else Decimal(0)
    note = f"{loan.reference} {why}; {released} {request.asset.symbol} released"
    if withdrawn:
        note += f"; external loan {external.reference} withdrawn, {sourced} sourcing released"
    return _transition(
        request,
        RequestStatus.REJECTED,
        actor=actor,
        now=now,
        kind="loan_refused",
        note=note,
        data={
            "loan": loan.pk,
            "released": str(released),
            "external_loan_withdrawn": external.pk if withdrawn else None,
        },
        allocated_quantity=max(request.allocated_quantity - released, Decimal(0)),
        sourced_quantity=request.sourced_quantity - sourced,
        decision_reason=f"loan {loan.reference} {why}",
    )


# ---------------------------------------------------------------- jobs


def borrow_requests_expire(*, now: datetime) -> int:
    """Requests past their needed-by time that are not booked expire and release their
    allocations (driven by state: what is due now)."""
    expired = 0
    due = list(
        BorrowRequest.objects.filter(status__in=OPEN_STATUSES, needed_by__lte=now)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    for pk in due:
        with transaction.atomic():
            request = _locked(pk)
            if request.status not in OPEN_STATUSES or request.needed_by > now:
                continue
            released = _release_allocations(request, now=now)
            _transition(
                request,
                RequestStatus.EXPIRED,
                actor=None,
                now=now,
                kind="expired",
                note="needed-by time passed",
                data={"released": str(released)},
                allocated_quantity=request.allocated_quantity - released,
            )
            expired += 1
    return expired


def borrow_requests_sla_check(*, now: datetime) -> int:
    """Raise an alert for each request whose first response is overdue (one live alert per
    request: a repeat only bumps its count), and resolve the alerts of requests that have had
    their first response since, or left the queue without one (cancelled, expired)."""
    late = list(requests_past_sla(now).select_related("desk", "asset"))
    if late:
        alerts_raise_many(
            [
                AlertSpec(
                    kind="borrow_sla_breach",
                    title=f"Borrow request {r.reference} past its SLA: {r.quantity.normalize():f} "
                    f"{r.asset.symbol} for {r.desk.code}",
                    body=f"Submitted {r.created_at:%Y-%m-%d %H:%M} UTC, first response due "
                    f"{r.sla_due_at:%H:%M} UTC; urgency {r.urgency}, priority {r.priority}.",
                    subject_type="borrow_request",
                    subject_id=str(r.pk),
                    subject_url=f"/loans/desk/requests/{r.pk}/",
                    dedupe_key=f"{SLA_ALERT_PREFIX}{r.pk}",
                )
                for r in late
            ],
            now=now,
        )
    still_late = {f"{SLA_ALERT_PREFIX}{r.pk}" for r in late}
    live = Alert.objects.filter(
        dedupe_key__startswith=SLA_ALERT_PREFIX, status__in=LIVE_STATUSES
    ).values_list("dedupe_key", flat=True)
    for key in sorted(set(live) - still_late):
        alerts_resolve(dedupe_key=key, now=now, note="no longer waiting for a first response")
    return len(late)
