"""Margin calls: what people do with a call (escalate, liquidate) and what follows a call met
outside a revaluation. The engine (collateral/engine.py) opens, moves and closes calls
set-based; the alerts of both live in collateral/alerts.py."""

from __future__ import annotations

from datetime import datetime
from decimal import ROUND_DOWN, ROUND_UP, Decimal

from django.db import transaction

from collateral.alerts import call_alert, call_alerts_resolve, ltv_text
from collateral.engine import CALLABLE_STATUSES, REVALUATION_LOCK, Scope, revalue
from collateral.models import (
    CollateralMovement,
    CollateralPosition,
    Liquidation,
    LoanValuation,
    MarginCall,
    MarginCallEvent,
    MarginCallNotice,
    MarginCallSide,
    MarginCallStatus,
    RevaluationRun,
)
from financing.accounts.roles import can
from financing.alerts.services import alerts_raise_many
from financing.errors import Conflict, Forbidden, InvalidInput
from financing.jobs.services import xact_advisory_lock
from financing.money import MAX_AMOUNT, quantize_intermediate
from loans.models import Loan
from loans.services import loan_repay

# ---------------------------------------------------------------- actions on a call


def _locked_call(call_id: int) -> MarginCall:
    return MarginCall.objects.select_for_update(of=("self",)).select_related("loan").get(pk=call_id)


def margin_call_escalate(*, actor, call: MarginCall, now: datetime, reason: str) -> MarginCall:
    """Escalate an open call before its deadline (e.g. the counterparty said it will not pay)."""
    if not can(actor, "margin.act"):
        raise Forbidden("Your role may not act on margin calls.")
    if not reason.strip():
        raise InvalidInput("Say why the call is escalated.", field="reason")
    with transaction.atomic(), xact_advisory_lock(REVALUATION_LOCK):
        call = _locked_call(call.pk)
        if call.status != MarginCallStatus.OPEN:
            raise Conflict(f"MC{call.pk} is {call.status}; only an open call is escalated.")
        MarginCall.objects.filter(pk=call.pk, status=MarginCallStatus.OPEN).update(
            status=MarginCallStatus.ESCALATED, escalated_at=now
        )
        MarginCallEvent.objects.create(
            call=call,
            kind="escalated",
            from_status="open",
            to_status="escalated",
            at=now,
            actor=actor,
            ltv=call.current_ltv,
            note=reason,
        )
        _notice(call, "escalation", now)
        alerts_raise_many(
            [
                call_alert(
                    "margin_escalation",
                    call.pk,
                    title=f"Call escalated: MC{call.pk} on {call.loan.reference}",
                    body=reason,
                )
            ],
            now=now,
        )
        call.refresh_from_db()
    return call


def call_met_after(call: MarginCall, *, now: datetime) -> None:
    """What follows a call met outside a revaluation: its notice, its alerts resolved."""
    _notice(call, "met", now)
    call_alerts_resolve(call.pk, now=now, note="margin call met")


def margin_calls_escalate_due(*, now: datetime) -> int:
    """Escalate every open call whose deadline has passed, between revaluations (the hourly
    run does the same): a conditional update per call, its event, notice and alert."""
    with transaction.atomic(), xact_advisory_lock(REVALUATION_LOCK):
        due = list(
            MarginCall.objects.select_for_update(of=("self",))
            .filter(
                closed_at__isnull=True,
                status=MarginCallStatus.OPEN,
                deadline__lte=now,
                loan__status__in=CALLABLE_STATUSES,
            )
            .select_related("loan__counterparty")
            .order_by("pk")
        )
        specs = []
        for call in due:
            MarginCall.objects.filter(pk=call.pk, status=MarginCallStatus.OPEN).update(
                status=MarginCallStatus.ESCALATED, escalated_at=now
            )
            MarginCallEvent.objects.create(
                call=call,
                kind="escalated",
                from_status="open",
                to_status="escalated",
                at=now,
                ltv=call.current_ltv,
                note="the cure period ended without the call being met",
            )
            call.status = MarginCallStatus.ESCALATED
            _notice(call, "escalation", now)
            specs.append(
                call_alert(
                    "margin_escalation",
                    call.pk,
                    title=f"Call past deadline: MC{call.pk} on {call.loan.reference} "
                    f"{call.loan.counterparty.code}, LTV {ltv_text(call.current_ltv)}",
                    body=f"Deadline {call.deadline:%Y-%m-%d %H:%M} UTC passed; USD "
                    f"{call.current_top_up_usd:,.2f} of collateral value still required.",
                )
            )
        if specs:
            alerts_raise_many(specs, now=now)
    return len(due)


def _notice(call: MarginCall, kind: str, now: datetime, body: str | None = None) -> None:
    """Record a notice outside a revaluation (the engine words its own notices in SQL)."""
    if call.side != MarginCallSide.ON_COUNTERPARTY:
        return
    loan = Loan.objects.select_related("counterparty", "asset").get(pk=call.loan_id)
    text = body or (
        f"Margin call MC{call.pk} on loan {loan.reference} ({loan.asset.symbol}): "
        f"{MarginCallNotice.Kind(kind).label.lower()}. LTV {ltv_text(call.current_ltv)}; collateral "
        f"worth USD {call.current_top_up_usd:.2f} after haircuts is required."
    )
    MarginCallNotice.objects.get_or_create(
        call=call,
        kind=kind,
        defaults={
            "sent_at": now,
            "recipient": f"{loan.counterparty.name} ({loan.counterparty.code})",
            "subject": f"{loan.reference} {MarginCallNotice.Kind(kind).label.lower()}",
            "body": text,
        },
    )


def sell_down_quantity(
    *,
    exposure_usd: Decimal,
    collateral_value_usd: Decimal,
    initial_ltv: Decimal,
    sale_price_usd: Decimal,
    value_price_usd: Decimal,
    haircut: Decimal,
) -> Decimal:
    """Units of one collateral holding to sell so that LTV returns to the initial LTV.

    Selling x units brings in x * sale price (applied to the loan, lowering exposure) and
    removes x * price * (1 - haircut) of collateral value:
        (E - x*s) / (C - x*p*(1-h)) = L0   =>   x = (E - L0*C) / (s - L0*p*(1-h))
    Never negative; the caller caps it at the holding and at what repays the whole loan."""
    need = exposure_usd - initial_ltv * collateral_value_usd
    if need <= 0:
        return Decimal(0)
    denominator = sale_price_usd - initial_ltv * value_price_usd * (1 - haircut)
    if denominator <= 0:
        raise Conflict("At that sale price selling collateral cannot lower the LTV.")
    return quantize_intermediate(need / denominator)


def margin_call_liquidate(
    *,
    actor,
    call: MarginCall,
    now: datetime,
    position: CollateralPosition | None = None,
    sale_price_usd: Decimal | None = None,
    reason: str = "",
) -> Liquidation:
    """Sell down collateral of a call in liquidation (or escalated) to bring the loan back to
    its initial LTV, never more than needed: computes the quantity, records the sale, applies
    the proceeds to the loan's principal and records what is returned (the part of the proceeds
    below one unit of the loan asset, or what exceeds the principal). Accrued interest stays
    accrued and settles as usual."""
    if not can(actor, "margin.act"):
        raise Forbidden("Your role may not act on margin calls.")
    if sale_price_usd is not None and (
        not isinstance(sale_price_usd, Decimal)
        or not sale_price_usd.is_finite()
        or sale_price_usd <= 0
        or sale_price_usd > MAX_AMOUNT
    ):
        raise InvalidInput("A sale price above zero, as a decimal string.", field="sale_price_usd")
    # Value the loan first, on its own: if current prices meet the call, that stands (and is
    # committed) and nothing is sold.
    revalue(
        now=now,
        scope=Scope(kind=RevaluationRun.Scope.LOANS, loan_ids=(call.loan_id,)),
        trigger="liquidation",
    )
    # The revaluation lock first, then rows: a revaluation holds the lock and updates calls.
    with transaction.atomic(), xact_advisory_lock(REVALUATION_LOCK):
        loan = (
            Loan.objects.select_for_update(of=("self",))
            .select_related("asset")
            .get(pk=call.loan_id)
        )
        call = _locked_call(call.pk)
        _check_liquidable(call)
        run = revalue(
            now=now,
            scope=Scope(kind=RevaluationRun.Scope.LOANS, loan_ids=(loan.pk,)),
            trigger="liquidation",
        ).run
        call.refresh_from_db()
        _check_liquidable(call)
        v = LoanValuation.objects.filter(run_id=run.pk, loan=loan).first()
        if v is None or v.exposure_usd is None or v.stale:
            raise Conflict("The loan cannot be valued on fresh prices: no liquidation.")
        # Only the loan's own holdings: pooled collateral secures other loans too.
        own = {line["position"]: line for line in v.lines if not line.get("pooled")}
        if not own:
            raise Conflict("The loan holds no collateral of its own to sell.")
        if position is None:
            position_id = max(own.values(), key=lambda line: Decimal(line["value_usd"]))["position"]
        elif position.pk in own:
            position_id = position.pk
        else:
            raise InvalidInput("Choose a holding of this loan's own.", field="position")
        pos = (
            CollateralPosition.objects.select_for_update(of=("self",))
            .select_related("asset")
            .get(pk=position_id)
        )
        line = own[position_id]
        price = Decimal(line["price_usd"])
        haircut = Decimal(line["haircut"])
        sale = sale_price_usd or price
        qty = sell_down_quantity(
            exposure_usd=v.exposure_usd,
            collateral_value_usd=v.collateral_value_usd,
            initial_ltv=v.initial_ltv,
            sale_price_usd=sale,
            value_price_usd=price,
            haircut=haircut,
        )
        # The proceeds repay principal in whole units of the loan asset, so size the sale from
        # the principal it must repay, rounded up to the loan asset's decimals, then sell whole
        # units of the collateral asset (rounded up) that bring in at least that: the LTV
        # reaches the target, and no more is sold than one unit of either precision.
        loan_price = v.loan_price_usd
        loan_step = Decimal(1).scaleb(-loan.asset.decimals)
        step = Decimal(1).scaleb(-pos.asset.decimals)
        repay_needed = min(
            (qty * sale / loan_price).quantize(loan_step, rounding=ROUND_UP),
            loan.outstanding_principal,
        )
        qty = (repay_needed * loan_price / sale).quantize(step, rounding=ROUND_UP)
        qty = min(qty, pos.quantity)
        if qty <= 0:
            raise Conflict("The LTV is already at or below the initial LTV: nothing to sell.")
        proceeds_usd = quantize_intermediate(qty * sale)
        proceeds_loan = quantize_intermediate(proceeds_usd / loan_price)
        applied_principal = min(
            proceeds_loan.quantize(loan_step, rounding=ROUND_DOWN), loan.outstanding_principal
        )
        movement = CollateralMovement.objects.create(
            position=pos,
            kind=CollateralMovement.Kind.LIQUIDATION,
            quantity=-qty,
            margin_call=call,
            actor=actor,
            at=now,
            reason=reason or f"sold for MC{call.pk}",
        )
        pos.quantity -= qty
        pos.updated_at = now
        pos.save(update_fields=["quantity", "updated_at"])
        if applied_principal > 0:
            loan_repay(
                actor=actor,
                loan=loan,
                amount=applied_principal,
                on=now.date(),
                now=now,
                reason=f"margin call MC{call.pk}: liquidation proceeds",
            )
        # What the sale brought in beyond the principal repaid in whole units goes back to
        # the counterparty; it is recorded, not lost.
        surplus_loan = max(proceeds_loan - applied_principal, Decimal(0))
        surplus_usd = quantize_intermediate(surplus_loan * loan_price)
        revalue(
            now=now,
            scope=Scope(kind=RevaluationRun.Scope.LOANS, loan_ids=(loan.pk,)),
            trigger="liquidation",
        )
        after = LoanValuation.objects.filter(loan=loan).order_by("-valued_at", "-id").first()
        liquidation = Liquidation.objects.create(
            call=call,
            loan=loan,
            position=pos,
            quantity_sold=qty,
            sale_price_usd=sale,
            proceeds_usd=proceeds_usd,
            loan_price_usd=loan_price,
            proceeds_loan_asset=proceeds_loan,
            applied_principal=applied_principal,
            applied_interest=Decimal(0),
            surplus_loan_asset=surplus_loan,
            surplus_usd=surplus_usd,
            ltv_before=v.ltv,
            ltv_after=after.ltv if after else None,
            actor=actor,
            at=now,
        )
        done = (
            after is None
            or after.exposure_usd in (None, 0)
            or (after.ltv is not None and after.ltv <= after.initial_ltv)
        )
        text = (
            f"Liquidation for margin call MC{call.pk} on {loan.reference}: sold {qty} "
            f"{pos.asset.symbol} at USD {sale} for USD {proceeds_usd:,.2f}; applied "
            f"{applied_principal} {loan.asset.symbol} to principal; returned "
            f"{surplus_loan} {loan.asset.symbol} (USD {surplus_usd:,.2f}). "
            f"LTV {ltv_text(v.ltv)} -> {ltv_text(liquidation.ltv_after)}."
        )
        MarginCallEvent.objects.create(
            call=call,
            kind="liquidated",
            from_status=call.status,
            to_status=MarginCallStatus.LIQUIDATION,
            at=now,
            actor=actor,
            ltv=liquidation.ltv_after,
            note=text,
            data={"liquidation": liquidation.pk, "movement": movement.pk},
        )
        fields = {"current_ltv": liquidation.ltv_after, "last_valued_at": now}
        if call.status == MarginCallStatus.ESCALATED:
            fields.update(status=MarginCallStatus.LIQUIDATION, liquidation_at=now)
        if done:
            fields.update(closed_at=now, resolution="collateral sold down to the initial LTV")
        moved = MarginCall.objects.filter(
            pk=call.pk, status=call.status, closed_at__isnull=True
        ).update(**fields)
        if not moved:  # pragma: no cover - the call row is locked for this transaction
            raise Conflict(f"MC{call.pk} changed while it was being liquidated.")
        call.refresh_from_db()
        _statement(call, liquidation, text, now)
        if done:
            call_alerts_resolve(call.pk, now=now, note=text[:300])
    return liquidation


def _check_liquidable(call: MarginCall) -> None:
    if call.closed_at is not None:
        raise Conflict(f"MC{call.pk} is closed ({call.status}).")
    if call.status not in (MarginCallStatus.LIQUIDATION, MarginCallStatus.ESCALATED):
        raise Conflict(
            f"MC{call.pk} is {call.status}: collateral is sold only for a call in "
            "liquidation or escalated past its deadline."
        )
    if call.side != MarginCallSide.ON_COUNTERPARTY:
        raise Conflict("The firm's own posted collateral is liquidated by the counterparty.")


def _statement(call: MarginCall, liquidation: Liquidation, text: str, now: datetime) -> None:
    """The statement of one sale: one notice per liquidation (a call may need several)."""
    loan = Loan.objects.select_related("counterparty").get(pk=call.loan_id)
    MarginCallNotice.objects.create(
        call=call,
        liquidation=liquidation,
        kind=MarginCallNotice.Kind.LIQUIDATION_DONE,
        sent_at=now,
        recipient=f"{loan.counterparty.name} ({loan.counterparty.code})",
        subject=f"{loan.reference} liquidation statement #{liquidation.pk}",
        body=text,
    )
