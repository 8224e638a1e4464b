"""Collateral services: positions and their movements (top-up, release with approval,
atomic substitution) and revaluing one loan."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

from django.db import connection, transaction

from collateral.engine import REVALUATION_LOCK, VALUED_STATUSES, Scope, revalue
from collateral.margin import call_met_after
from collateral.models import (
    CollateralMovement,
    CollateralPosition,
    LoanValuation,
    MarginCall,
    MarginCallEvent,
    MarginCallStatus,
    PositionDirection,
    RevaluationRun,
)
from collateral.services._common import (
    MAX_QUANTITY,
    _check_quantity,
    _require,
)
from financing.approvals.services import approval_request_create
from financing.errors import Conflict, InvalidInput
from financing.jobs.services import xact_advisory_lock
from financing.refdata.models import Asset, Counterparty, Venue
from loans.models import LIVE_STATUSES, Direction, Loan

# ---------------------------------------------------------------- positions and movements


def _direction_for(loan_direction: str) -> str:
    return (
        PositionDirection.RECEIVED if loan_direction == Direction.LEND else PositionDirection.POSTED
    )


def _lock_loan(loan_id: int) -> Loan:
    return (
        Loan.objects.select_for_update(of=("self",))
        .select_related("asset", "counterparty")
        .get(pk=loan_id)
    )


def _position(
    *,
    counterparty: Counterparty,
    loan: Loan | None,
    direction: str,
    asset: Asset,
    venue: Venue,
    now: datetime,
    create: bool,
) -> CollateralPosition | None:
    qs = CollateralPosition.objects.select_for_update().filter(
        counterparty=counterparty, loan=loan, direction=direction, asset=asset, venue=venue
    )
    pos = qs.first()
    if pos is None and create:
        with connection.cursor() as cur:
            cur.execute(
                "INSERT INTO collateral_collateralposition (counterparty_id, loan_id, direction,"
                " asset_id, venue_id, quantity, updated_at) VALUES (%s, %s, %s, %s, %s, 0, %s)"
                " ON CONFLICT DO NOTHING",
                [counterparty.pk, loan.pk if loan else None, direction, asset.pk, venue.pk, now],
            )
        pos = qs.first()
    return pos


def _move(
    pos: CollateralPosition,
    *,
    kind: str,
    quantity: Decimal,
    actor,
    now: datetime,
    reason: str,
    group=None,
    approval=None,
    call: MarginCall | None = None,
) -> CollateralMovement:
    if pos.quantity + quantity > MAX_QUANTITY:
        raise InvalidInput(
            f"The holding would exceed {MAX_QUANTITY:,.0f} {pos.asset.symbol}.", field="quantity"
        )
    if pos.quantity + quantity < 0:
        raise Conflict(
            f"The position holds {pos.quantity} {pos.asset.symbol} at {pos.venue.code}; "
            f"{-quantity} cannot be taken out."
        )
    pos.quantity += quantity
    pos.updated_at = now
    pos.save(update_fields=["quantity", "updated_at"])
    return CollateralMovement.objects.create(
        position=pos,
        kind=kind,
        quantity=quantity,
        group=group,
        approval=approval,
        margin_call=call,
        actor=actor,
        at=now,
        reason=reason,
    )


def _scope_of(loan: Loan | None, counterparty: Counterparty) -> Scope:
    if loan is not None:
        return Scope(kind=RevaluationRun.Scope.LOANS, loan_ids=(loan.pk,))
    ids = tuple(
        Loan.objects.filter(counterparty=counterparty, status__in=LIVE_STATUSES).values_list(
            "pk", flat=True
        )
    )
    return Scope(kind=RevaluationRun.Scope.LOANS, loan_ids=ids)


def _open_call(loan: Loan | None) -> MarginCall | None:
    if loan is None:
        return None
    return (
        MarginCall.objects.select_for_update(of=("self",))
        .filter(loan=loan, closed_at__isnull=True)
        .first()
    )


def _target(loan: Loan | None, counterparty: Counterparty | None, direction: str | None):
    """(loan, counterparty, direction) of a movement: a loan's own collateral or a pool."""
    if loan is not None:
        loan = _lock_loan(loan.pk)
        if loan.status not in VALUED_STATUSES:
            raise Conflict(f"Loan {loan.reference} is {loan.status}: no collateral movements.")
        return loan, loan.counterparty, _direction_for(loan.direction)
    if counterparty is None:
        raise InvalidInput("Name a loan or a counterparty (pooled collateral).", field="loan")
    if direction not in PositionDirection.values:
        raise InvalidInput("received or posted.", field="direction")
    return None, counterparty, direction


def collateral_top_up(
    *,
    actor,
    asset: Asset,
    venue: Venue,
    quantity: Decimal,
    now: datetime,
    loan: Loan | None = None,
    counterparty: Counterparty | None = None,
    direction: str | None = None,
    reason: str = "",
) -> CollateralMovement:
    """Collateral arrives (or the firm posts more): effective at once, and the loan (or every
    loan sharing the pool) is revalued in the same transaction, so a call can be met by it."""
    _require(actor, "collateral.move", "move collateral")
    _check_quantity(quantity, asset)
    if venue.status != Venue.Status.ACTIVE:
        raise InvalidInput(f"{venue.code} is not active.", field="venue")
    # The revaluation lock before any row: a running revaluation holds it and updates calls.
    with transaction.atomic(), xact_advisory_lock(REVALUATION_LOCK):
        loan, counterparty, direction = _target(loan, counterparty, direction)
        call = _open_call(loan)
        pos = _position(
            counterparty=counterparty,
            loan=loan,
            direction=direction,
            asset=asset,
            venue=venue,
            now=now,
            create=True,
        )
        movement = _move(
            pos,
            kind=CollateralMovement.Kind.TOP_UP,
            quantity=quantity,
            actor=actor,
            now=now,
            reason=reason,
            call=call,
        )
        if call is not None:
            MarginCallEvent.objects.create(
                call=call,
                kind="top_up",
                at=now,
                actor=actor,
                note=f"top-up of {quantity} {asset.symbol} at {venue.code}",
                data={"movement": movement.pk, "asset": asset.symbol, "quantity": str(quantity)},
            )
        revalue(now=now, scope=_scope_of(loan, counterparty), trigger="top_up")
        if call is not None and call.status == MarginCallStatus.LIQUIDATION:
            # The engine leaves a call in liquidation to the sale; collateral that restores
            # the initial LTV before the sale meets it instead.
            v = _latest_valuation(loan)
            if v and not v.stale and v.ltv is not None and v.ltv <= v.initial_ltv:
                MarginCall.objects.filter(pk=call.pk, closed_at__isnull=True).update(
                    status=MarginCallStatus.MET,
                    closed_at=now,
                    current_ltv=v.ltv,
                    current_top_up_usd=v.top_up_usd,
                    last_valued_at=now,
                    resolution="top-up restored the initial LTV before the sale",
                )
                MarginCallEvent.objects.create(
                    call=call,
                    kind="met",
                    from_status=call.status,
                    to_status="met",
                    at=now,
                    actor=actor,
                    ltv=v.ltv,
                    note="top-up restored the initial LTV",
                )
                call.refresh_from_db()
                call_met_after(call, now=now)
    return movement


def _latest_valuation(loan: Loan) -> LoanValuation | None:
    return LoanValuation.objects.filter(loan=loan).order_by("-valued_at", "-id").first()


def _unit_values(valuation: LoanValuation) -> dict[int, Decimal]:
    """Haircut value per unit of each position in a valuation (own positions only)."""
    out = {}
    for line in valuation.lines:
        if line.get("pooled"):
            continue
        qty = Decimal(line["quantity"])
        if qty > 0 and line.get("price_usd") is not None:
            out[line["position"]] = Decimal(line["price_usd"]) * (1 - Decimal(line["haircut"]))
    return out


def release_check(loan: Loan, pos: CollateralPosition, quantity: Decimal, now: datetime):
    """A release is allowed while the loan's LTV is below its release level and only down to
    its initial LTV. Revalues the loan first, so the check uses current prices."""
    run = revalue(
        now=now,
        scope=Scope(kind=RevaluationRun.Scope.LOANS, loan_ids=(loan.pk,)),
        trigger="release",
    ).run
    v = LoanValuation.objects.filter(run_id=run.pk, loan=loan).first()
    if v is None or v.exposure_usd is None:
        raise Conflict(f"Loan {loan.reference} cannot be valued (no price): no release.")
    if v.stale:
        raise Conflict(f"Loan {loan.reference} is valued on a stale price: no release.")
    if v.exposure_usd == 0:
        return v, Decimal(0)
    if v.ltv is None or v.ltv >= v.release_ltv:
        raise Conflict(
            f"LTV {v.ltv} is not below the release level {v.release_ltv}: nothing to release."
        )
    unit = _unit_values(v).get(pos.pk, Decimal(0))
    after_value = v.collateral_value_usd - quantity * unit
    after_ltv = v.exposure_usd / after_value if after_value > 0 else None
    if after_ltv is None or after_ltv > v.initial_ltv:
        raise Conflict(
            f"Releasing {quantity} {pos.asset.symbol} would take LTV above the initial LTV "
            f"{v.initial_ltv} (excess releasable: USD {v.excess_usd:.2f} after haircuts)."
        )
    return v, after_ltv


def pool_release_check(pos: CollateralPosition, quantity: Decimal, now: datetime) -> None:
    """A pooled release is checked against every loan sharing the pool: each must be valued on
    fresh prices below its release level, and stay at or below its initial LTV once its share
    of the pool shrinks."""
    ids = tuple(
        Loan.objects.filter(
            counterparty_id=pos.counterparty_id,
            status__in=VALUED_STATUSES,
            direction=Direction.LEND
            if pos.direction == PositionDirection.RECEIVED
            else Direction.BORROW,
        ).values_list("pk", flat=True)
    )
    if not ids:
        return  # the pool secures nothing on the book
    run = revalue(
        now=now, scope=Scope(kind=RevaluationRun.Scope.LOANS, loan_ids=ids), trigger="release"
    ).run
    for v in LoanValuation.objects.filter(run_id=run.pk).select_related("loan"):
        ref = v.loan.reference
        if v.exposure_usd is None or v.stale:
            raise Conflict(f"{ref} cannot be valued on fresh prices: no pooled release.")
        if v.exposure_usd == 0:
            continue
        if v.ltv is None or v.ltv >= v.release_ltv:
            raise Conflict(
                f"{ref} shares the pool at LTV {v.ltv}, not below its release level "
                f"{v.release_ltv}: no pooled release."
            )
        line = next((ln for ln in v.lines if ln.get("pooled") and ln["position"] == pos.pk), None)
        if line is None or line.get("price_usd") is None:
            continue
        unit = Decimal(line["price_usd"]) * (1 - Decimal(line["haircut"]))
        after = v.collateral_value_usd - quantity * unit * Decimal(line.get("share") or 0)
        if after <= 0 or v.exposure_usd / after > v.initial_ltv:
            raise Conflict(
                f"Releasing {quantity} {pos.asset.symbol} from the pool would take {ref} above "
                f"its initial LTV {v.initial_ltv}."
            )


def collateral_release_request(
    *,
    actor,
    asset: Asset,
    venue: Venue,
    quantity: Decimal,
    now: datetime,
    loan: Loan | None = None,
    counterparty: Counterparty | None = None,
    direction: str | None = None,
    reason: str = "",
):
    """Return collateral: needs approval (`collateral.release`), checked again when approved."""
    _require(actor, "collateral.move", "move collateral")
    _check_quantity(quantity, asset)
    # The revaluation lock before any row: a running revaluation holds it and updates calls.
    with transaction.atomic(), xact_advisory_lock(REVALUATION_LOCK):
        loan, counterparty, direction = _target(loan, counterparty, direction)
        pos = _position(
            counterparty=counterparty,
            loan=loan,
            direction=direction,
            asset=asset,
            venue=venue,
            now=now,
            create=False,
        )
        if pos is None or pos.quantity < quantity:
            held = pos.quantity if pos else 0
            raise Conflict(f"Only {held} {asset.symbol} is held at {venue.code}.")
        if loan is not None:
            release_check(loan, pos, quantity, now)
        else:
            pool_release_check(pos, quantity, now)
        where = loan.reference if loan else f"{counterparty.code} pool"
        return approval_request_create(
            action="collateral.release",
            maker=actor,
            payload={"position": pos.pk, "quantity": str(quantity)},
            now=now,
            target=loan or counterparty,
            summary=f"release {quantity} {asset.symbol} at {venue.code} from {where}",
            reason=reason,
        )


def collateral_release_apply(*, approval, checker, now: datetime) -> CollateralMovement:
    quantity = Decimal(approval.payload["quantity"])
    # The revaluation lock before any row: a running revaluation holds it and updates calls.
    with transaction.atomic(), xact_advisory_lock(REVALUATION_LOCK):
        pos = CollateralPosition.objects.select_related("asset", "venue", "loan").get(
            pk=approval.payload["position"]
        )
        loan = _lock_loan(pos.loan_id) if pos.loan_id else None
        pos = CollateralPosition.objects.select_for_update().get(pk=pos.pk)
        if loan is not None:
            release_check(loan, pos, quantity, now)
        else:
            pool_release_check(pos, quantity, now)
        movement = _move(
            pos,
            kind=CollateralMovement.Kind.RELEASE,
            quantity=-quantity,
            actor=checker,
            now=now,
            reason=approval.reason or "release approved",
            approval=approval,
        )
        revalue(now=now, scope=_scope_of(loan, pos.counterparty), trigger="release")
    return movement


def collateral_substitute(
    *,
    actor,
    loan: Loan,
    out_asset: Asset,
    out_venue: Venue,
    out_quantity: Decimal,
    in_asset: Asset,
    in_venue: Venue,
    in_quantity: Decimal,
    now: datetime,
    reason: str = "",
) -> tuple[CollateralMovement, CollateralMovement]:
    """Swap collateral: both legs in one transaction or neither. Allowed when the loan's LTV
    afterwards is at or below its initial LTV, or no worse than before."""
    _require(actor, "collateral.move", "move collateral")
    _check_quantity(out_quantity, out_asset, "out_quantity")
    _check_quantity(in_quantity, in_asset, "in_quantity")
    if in_venue.status != Venue.Status.ACTIVE:
        raise InvalidInput(f"{in_venue.code} is not active.", field="in_venue")
    if (out_asset.pk, out_venue.pk) == (in_asset.pk, in_venue.pk):
        raise InvalidInput("A substitution swaps one holding for another.", field="in_asset")
    group = uuid.uuid4()
    # The revaluation lock before any row: a running revaluation holds it and updates calls.
    with transaction.atomic(), xact_advisory_lock(REVALUATION_LOCK):
        loan, counterparty, direction = _target(loan, None, None)
        out_pos = _position(
            counterparty=counterparty,
            loan=loan,
            direction=direction,
            asset=out_asset,
            venue=out_venue,
            now=now,
            create=False,
        )
        if out_pos is None or out_pos.quantity < out_quantity:
            held = out_pos.quantity if out_pos else 0
            raise Conflict(f"Only {held} {out_asset.symbol} is held at {out_venue.code}.")
        before = revalue(
            now=now,
            scope=Scope(kind=RevaluationRun.Scope.LOANS, loan_ids=(loan.pk,)),
            trigger="substitution",
        )
        del before
        v_before = _latest_valuation(loan)
        out_mv = _move(
            out_pos,
            kind=CollateralMovement.Kind.SUBSTITUTION_OUT,
            quantity=-out_quantity,
            actor=actor,
            now=now,
            reason=reason,
            group=group,
        )
        in_pos = _position(
            counterparty=counterparty,
            loan=loan,
            direction=direction,
            asset=in_asset,
            venue=in_venue,
            now=now,
            create=True,
        )
        in_mv = _move(
            in_pos,
            kind=CollateralMovement.Kind.SUBSTITUTION_IN,
            quantity=in_quantity,
            actor=actor,
            now=now,
            reason=reason,
            group=group,
        )
        revalue(
            now=now,
            scope=Scope(kind=RevaluationRun.Scope.LOANS, loan_ids=(loan.pk,)),
            trigger="substitution",
        )
        v_after = _latest_valuation(loan)
        if direction == PositionDirection.RECEIVED and v_after.exposure_usd:
            if v_after.stale:
                raise Conflict("A price is stale: the substitution cannot be valued.")
            worse = v_after.collateral_value_usd < v_before.collateral_value_usd and (
                v_after.ltv is None or v_after.ltv > v_after.initial_ltv
            )
            if worse:
                raise Conflict(
                    f"The substitution would leave LTV at {v_after.ltv}, above the initial LTV "
                    f"{v_after.initial_ltv} and worse than before: nothing was moved."
                )
    return out_mv, in_mv


def loan_revalue(*, loan: Loan, now: datetime, trigger: str = "manual") -> LoanValuation | None:
    revalue(
        now=now, scope=Scope(kind=RevaluationRun.Scope.LOANS, loan_ids=(loan.pk,)), trigger=trigger
    )
    return _latest_valuation(loan)
