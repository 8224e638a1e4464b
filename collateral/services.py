"""Every write of the collateral app: prices, haircuts, margin policies, collateral movements.

Margin-call actions live in collateral/margin.py, the whole-book engine in collateral/engine.py.
"""

from __future__ import annotations

import itertools
import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction

from collateral.engine import REVALUATION_LOCK, VALUED_STATUSES, Scope, revalue
from collateral.models import (
    CollateralMovement,
    CollateralPosition,
    Haircut,
    LoanValuation,
    MarginCall,
    MarginCallEvent,
    MarginCallStatus,
    MarginPolicy,
    PositionDirection,
    PriceSnapshot,
    RevaluationRun,
)
from financing.accounts.roles import can
from financing.approvals.services import approval_request_create
from financing.audit.history import save_stamped
from financing.errors import Conflict, Forbidden, InvalidInput
from financing.jobs.services import xact_advisory_lock
from financing.refdata.models import Asset, Counterparty, Venue
from loans.models import LIVE_STATUSES, Direction, Loan

MAX_PRICE = Decimal("1e15")
#: A movement or a holding past this many units is a typo, not collateral (and NUMERIC(38,18)
#: must hold its value in USD).
MAX_QUANTITY = Decimal("1e15")
#: A price dated further ahead than this is a clock error, not a price.
FUTURE_TOLERANCE = timedelta(minutes=2)
MAX_PRICE_AGE = timedelta(days=30)
SOURCE_RE = re.compile(r"^[a-z0-9][a-z0-9_.:-]{0,63}$")
MANUAL = "manual"


def _require(actor, capability: str, what: str) -> None:
    if not can(actor, capability):
        raise Forbidden(f"Your role may not {what}.")


def _check_fraction(value: Any, field: str, *, low: Decimal, high: Decimal) -> Decimal:
    if not isinstance(value, Decimal) or not value.is_finite():
        raise InvalidInput('A decimal fraction, as a string ("0.10" = 10%).', field=field)
    if not low <= value <= high:
        raise InvalidInput(f"Between {low} and {high}.", field=field)
    return value


def _check_quantity(quantity: Any, asset: Asset, field: str = "quantity") -> Decimal:
    if not isinstance(quantity, Decimal) or not quantity.is_finite():
        raise InvalidInput("A decimal quantity, as a string.", field=field)
    if quantity <= 0:
        raise InvalidInput("Must be above zero.", field=field)
    if quantity > MAX_QUANTITY:
        raise InvalidInput("Implausibly large.", field=field)
    if quantity != quantity.quantize(Decimal(1).scaleb(-asset.decimals)):
        raise InvalidInput(
            f"{asset.symbol} has {asset.decimals} decimals; {quantity} has more.", field=field
        )
    return quantity


# ---------------------------------------------------------------- prices


@dataclass(frozen=True)
class PriceInput:
    asset: Asset
    price_usd: Decimal
    as_of: datetime
    source: str


def price_validate(row: PriceInput, *, now: datetime, index: int | None = None) -> None:
    def field(name: str) -> str:
        return name if index is None else f"{index}.{name}"

    if not isinstance(row.price_usd, Decimal) or not row.price_usd.is_finite():
        raise InvalidInput("A decimal price, as a string.", field=field("price_usd"))
    if not 0 < row.price_usd <= MAX_PRICE:
        raise InvalidInput("A price above zero and below 1e15 USD.", field=field("price_usd"))
    if row.price_usd != row.price_usd.quantize(Decimal("1e-18")):
        raise InvalidInput("At most 18 decimal places.", field=field("price_usd"))
    if row.as_of.tzinfo is None:
        raise InvalidInput("A time with its UTC offset.", field=field("as_of"))
    if row.as_of > now + FUTURE_TOLERANCE:
        raise InvalidInput("The price is dated in the future.", field=field("as_of"))
    if row.as_of < now - MAX_PRICE_AGE:
        raise InvalidInput("The price is more than 30 days old.", field=field("as_of"))
    if not SOURCE_RE.match(row.source or ""):
        raise InvalidInput(
            "A source name: lower-case letters, digits and _.:- (at most 64).",
            field=field("source"),
        )
    if not row.asset.is_active:
        raise InvalidInput(f"{row.asset.symbol} is inactive.", field=field("asset"))


def prices_record(
    *, rows: list[PriceInput], now: datetime, actor=None, validated: bool = False
) -> dict[str, int]:
    """Store feed prices (never `manual`: that needs approval). A snapshot already stored for
    the same asset, source and time is skipped. Loans the new prices touch are revalued just
    after commit (debounced, collateral/tasks.py)."""
    if actor is not None:
        _require(actor, "prices.submit", "submit prices")
    if not validated:
        for i, row in enumerate(rows):
            price_validate(row, now=now, index=i if len(rows) > 1 else None)
            if row.source == MANUAL:
                raise InvalidInput(
                    "A manual price needs approval: submit it on its own.", field="source"
                )
    if not rows:
        return {"stored": 0, "duplicates": 0}
    with transaction.atomic():
        with connection.cursor() as cur:
            cur.execute(
                "INSERT INTO collateral_pricesnapshot (asset_id, price_usd, as_of, source,"
                " received_at, created_by_id)"
                " SELECT * FROM unnest(%s::bigint[], %s::numeric[], %s::timestamptz[], %s::text[])"
                " , LATERAL (SELECT %s::timestamptz, %s::bigint) extra"
                " ON CONFLICT (asset_id, source, as_of) DO NOTHING RETURNING asset_id",
                [
                    [r.asset.pk for r in rows],
                    [r.price_usd for r in rows],
                    [r.as_of for r in rows],
                    [r.source for r in rows],
                    now,
                    actor.pk if actor is not None else None,
                ],
            )
            inserted = cur.fetchall()
        landed = {r[0] for r in inserted}
        stored = len(inserted)
        prices_touch(asset_ids=landed, now=now)
    return {"stored": stored, "duplicates": len(rows) - stored}


def prices_touch(*, asset_ids: set[int], now: datetime) -> None:
    """Mark assets as repriced and schedule the debounced revaluation of the loans they touch."""
    if not asset_ids:
        return
    with connection.cursor() as cur:
        cur.execute(
            "INSERT INTO collateral_pricetouch (asset_id, touched_at) SELECT unnest(%s), %s "
            "ON CONFLICT (asset_id) DO UPDATE SET touched_at = EXCLUDED.touched_at",
            [sorted(asset_ids), now],
        )
    if settings.REVALUE_ON_PRICES:
        from collateral.tasks import revalue_touched_task

        transaction.on_commit(
            lambda: revalue_touched_task.apply_async(countdown=settings.REVALUE_DEBOUNCE_SECONDS)
        )


def revalue_touched(*, now: datetime, trigger: str = "prices") -> RevaluationRun | None:
    """Revalue the loans touched by prices that arrived since the last such run (the debounced
    step after new prices). Several queued tasks after one burst of prices do the work once:
    the first drains the touched assets, the others find none."""
    with transaction.atomic():
        with connection.cursor() as cur:
            cur.execute(
                "DELETE FROM collateral_pricetouch WHERE touched_at <= %s RETURNING asset_id",
                [now],
            )
            assets = tuple(sorted(r[0] for r in cur.fetchall()))
        if not assets:
            return None
        return revalue(
            now=now,
            scope=Scope(kind=RevaluationRun.Scope.TOUCHED, asset_ids=assets),
            trigger=trigger,
        ).run


def price_manual_request(
    *, actor, asset: Asset, price_usd: Decimal, as_of: datetime, now: datetime, reason: str = ""
):
    """A manual price waits for a checker (approval `price.manual`)."""
    _require(actor, "prices.submit", "submit prices")
    price_validate(PriceInput(asset, price_usd, as_of, MANUAL), now=now)
    return approval_request_create(
        action="price.manual",
        maker=actor,
        payload={"asset": asset.pk, "price_usd": str(price_usd), "as_of": as_of.isoformat()},
        now=now,
        target=asset,
        summary=f"manual price {asset.symbol} = {price_usd} USD as of {as_of:%Y-%m-%d %H:%M}Z",
        reason=reason,
    )


def price_manual_apply(*, approval, checker, now: datetime) -> PriceSnapshot:
    payload = approval.payload
    asset = Asset.objects.get(pk=payload["asset"])
    snapshot, created = PriceSnapshot.objects.get_or_create(
        asset=asset,
        source=MANUAL,
        as_of=datetime.fromisoformat(payload["as_of"]),
        defaults={
            "price_usd": Decimal(payload["price_usd"]),
            "received_at": now,
            "created_by": approval.maker,
            "approval": approval,
        },
    )
    if not created:
        raise Conflict(f"A manual {asset.symbol} price for that time is already stored.")
    prices_touch(asset_ids={asset.pk}, now=now)
    return snapshot


# ---------------------------------------------------------------- haircuts and policies


def haircut_set(
    *,
    actor,
    asset: Asset,
    haircut: Decimal,
    now: datetime,
    venue: Venue | None = None,
    counterparty: Counterparty | None = None,
    reason: str = "",
) -> Haircut:
    """Set the haircut of an asset for a scope (asset default, venue, counterparty, or both)."""
    _require(actor, "risk.configure", "set haircuts")
    _check_fraction(haircut, "haircut", low=Decimal(0), high=Decimal(1))
    with transaction.atomic():
        row = (
            Haircut.objects.select_for_update()
            .filter(asset=asset, venue=venue, counterparty=counterparty)
            .order_by()
            .first()
        )
        if row is None:
            row = Haircut(asset=asset, venue=venue, counterparty=counterparty)
        row.haircut = haircut
        row.updated_by = actor
        row.updated_at = now
        try:
            with transaction.atomic():
                save_stamped(row, actor=actor, reason=reason or "haircut set")
        except IntegrityError:
            raise Conflict(
                "This haircut was set at the same moment by someone else; retry."
            ) from None
    return row


POLICY_FIELDS = ("initial_ltv", "warning_ltv", "call_ltv", "liquidation_ltv", "release_ltv")


def margin_policy_set(
    *,
    actor,
    now: datetime,
    terms: dict[str, Any],
    counterparty: Counterparty | None = None,
    asset: Asset | None = None,
    reason: str = "",
) -> MarginPolicy:
    """Set the default margin terms of a scope. All five levels and the cure period, rising:
    release < initial < warning < call < liquidation."""
    _require(actor, "risk.configure", "set margin policies")
    clean: dict[str, Any] = {}
    for name in POLICY_FIELDS:
        if name not in terms or terms[name] is None:
            raise InvalidInput("Required.", field=name)
        clean[name] = _check_fraction(terms[name], name, low=Decimal("0.01"), high=Decimal(5))
    cure = terms.get("cure_hours")
    if isinstance(cure, bool) or not isinstance(cure, int) or not 1 <= cure <= 720:
        raise InvalidInput("A whole number of hours from 1 to 720.", field="cure_hours")
    ladder = ["release_ltv", "initial_ltv", "warning_ltv", "call_ltv", "liquidation_ltv"]
    for low, high in itertools.pairwise(ladder):
        if clean[low] >= clean[high]:
            raise InvalidInput(f"{low} must be below {high}.", field=high)
    with transaction.atomic():
        row = (
            MarginPolicy.objects.select_for_update()
            .filter(counterparty=counterparty, asset=asset)
            .order_by()
            .first()
        ) or MarginPolicy(counterparty=counterparty, asset=asset)
        for name, value in clean.items():
            setattr(row, name, value)
        row.cure_hours = cure
        row.updated_by = actor
        row.updated_at = now
        try:
            with transaction.atomic():
                save_stamped(row, actor=actor, reason=reason or "margin policy set")
        except IntegrityError:
            raise Conflict(
                "This policy was set at the same moment by someone else; retry."
            ) from None
    return row


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
                from collateral.margin import call_met_after

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
