"""The alert kinds the collateral app raises (domain.md: warning, call, escalation,
liquidation, stale price and limit breach), the one table of their severities, and the alerts
of margin calls: those a revaluation run raises and resolves (`alerts_for_run`, called by the
engine inside the run's transaction) and those of a call acted on outside a run (margin.py)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from collateral.models import MarginCall, MarginCallSide, MarginCallStatus
from collateral.results import RunResult
from financing.accounts.roles import Role
from financing.alerts.registry import AlertKind, register_kind
from financing.alerts.services import AlertSpec, alerts_raise_many, alerts_resolve
from loans.models import Loan

RISK = (Role.RISK, Role.OPS, Role.ADMIN)

KINDS = (
    AlertKind("margin_warning", "LTV warning", "warning", RISK, "A loan reached its warning LTV"),
    AlertKind("margin_call", "Margin call", "warning", RISK, "A margin call was opened"),
    AlertKind(
        "margin_escalation",
        "Margin call escalated",
        "critical",
        RISK,
        "A margin call passed its deadline unmet",
    ),
    AlertKind(
        "margin_liquidation",
        "Liquidation",
        "critical",
        RISK,
        "A loan reached its liquidation LTV",
    ),
    AlertKind(
        "stale_price",
        "Stale price",
        "warning",
        RISK,
        "No price newer than the staleness limit: valuations flagged, no calls issued",
    ),
    AlertKind(
        "limit_breach",
        "Concentration limit",
        "warning",
        RISK,
        "Exposure crossed a concentration limit",
    ),
)
for kind in KINDS:
    register_kind(kind)

#: The severity of each kind's alerts: the kinds' own, written once above.
SEVERITY = {kind.name: kind.default_severity for kind in KINDS}
#: A limit breach is the kind's severity over the soft limit, critical over the hard one.
LIMIT_HARD_SEVERITY = "critical"

#: The alerts of one margin call (dedupe key "<kind>:<call id>"), all resolved when it is met.
CALL_KINDS = ("margin_call", "margin_escalation", "margin_liquidation")


def ltv_text(v) -> str:
    """An LTV as a percentage with two places, in alert and notice texts."""
    return "n/a (no collateral)" if v is None else f"{Decimal(v) * 100:.2f}%"


def limit_breach_severity(*, hard: bool) -> str:
    return LIMIT_HARD_SEVERITY if hard else SEVERITY["limit_breach"]


def call_alert(
    kind: str, call_id: int, *, title: str, body: str, data: dict | None = None
) -> AlertSpec:
    """The alert of one margin call: one live alert per call and kind (the dedupe key)."""
    return AlertSpec(
        kind=kind,
        severity=SEVERITY[kind],
        title=title,
        body=body,
        subject_type="margin_call",
        subject_id=str(call_id),
        subject_url=f"/risk/margin-calls/{call_id}/",
        dedupe_key=f"{kind}:{call_id}",
        data=data,
    )


def call_alerts_resolve(call_id: int, *, now: datetime, note: str) -> None:
    """Resolve every live alert of a call (it was met, or sold down to its initial LTV)."""
    for kind in CALL_KINDS:
        alerts_resolve(dedupe_key=f"{kind}:{call_id}", now=now, note=note)


def alerts_for_run(result: RunResult, *, now: datetime) -> None:
    """Raise one alert per call opened, escalated or moved to liquidation, per loan crossing
    its warning level, and per asset priced stale; resolve the alerts of calls met and of
    assets priced fresh again. Rows only: delivery happens after commit."""
    call_ids = [r[0] for r in result.opened + result.escalated + result.liquidation]
    loan_ids = {r[1] for r in result.opened + result.escalated + result.liquidation}
    loan_ids |= {r[0] for r in result.warnings}
    # Plain tuples, not model instances: a sharp move can call thousands of loans at once.
    loans = {
        pk: (f"L{pk}", direction, outstanding, symbol, code)
        for pk, direction, outstanding, symbol, code in Loan.objects.filter(
            pk__in=loan_ids
        ).values_list(
            "pk", "direction", "outstanding_principal", "asset__symbol", "counterparty__code"
        )
    }
    calls = {
        pk: (side, top_up, deadline)
        for pk, side, top_up, deadline in MarginCall.objects.filter(pk__in=call_ids).values_list(
            "pk", "side", "current_top_up_usd", "deadline"
        )
    }
    specs: list[AlertSpec] = []

    def call_spec(kind: str, call_id: int, loan_id: int, ltv, title: str) -> AlertSpec:
        ref, direction, outstanding, symbol, code = loans[loan_id]
        side, top_up, deadline = calls[call_id]
        on = "on the firm by " if side == MarginCallSide.ON_FIRM else "on "
        return call_alert(
            kind,
            call_id,
            title=f"{title}: {ref} {on}{code}, LTV {ltv_text(ltv)}",
            body=(
                f"Margin call MC{call_id} on {ref} ({direction} {outstanding.normalize():f} "
                f"{symbol}, {code}). LTV {ltv_text(ltv)}; top-up to the initial LTV: USD "
                f"{top_up:,.2f} after haircuts; deadline {deadline:%Y-%m-%d %H:%M} UTC."
            ),
            data={"loan": loan_id, "call": call_id, "ltv": None if ltv is None else str(ltv)},
        )

    for call_id, loan_id, status, ltv in result.opened:
        if status == MarginCallStatus.LIQUIDATION:
            specs.append(call_spec("margin_liquidation", call_id, loan_id, ltv, "Liquidation"))
        else:
            specs.append(call_spec("margin_call", call_id, loan_id, ltv, "Margin call"))
    for call_id, loan_id, ltv in result.escalated:
        specs.append(call_spec("margin_escalation", call_id, loan_id, ltv, "Call past deadline"))
    for call_id, loan_id, ltv in result.liquidation:
        specs.append(call_spec("margin_liquidation", call_id, loan_id, ltv, "Liquidation"))
    for loan_id, ltv, warning_ltv, call_ltv in result.warnings:
        ref, direction, _outstanding, symbol, code = loans[loan_id]
        specs.append(
            AlertSpec(
                kind="margin_warning",
                severity=SEVERITY["margin_warning"],
                title=f"LTV warning: {ref} {code} at {ltv_text(ltv)}",
                body=(
                    f"{ref} ({direction} {symbol}, {code}) reached its warning level "
                    f"{ltv_text(warning_ltv)}; a margin call opens at {ltv_text(call_ltv)}."
                ),
                subject_type="loan",
                subject_id=str(loan_id),
                subject_url=f"/risk/loans/{loan_id}/",
                dedupe_key=f"margin_warning:{loan_id}",
                data={"loan": loan_id, "ltv": str(ltv)},
            )
        )
    for symbol in result.stale_assets:
        specs.append(
            AlertSpec(
                kind="stale_price",
                severity=SEVERITY["stale_price"],
                title=f"Stale price: {symbol}",
                body=(
                    f"No {symbol} price newer than the staleness limit. Valuations using it are "
                    f"flagged stale and no margin call is issued on them until a fresh price "
                    f"arrives ({result.stale_blocked} loan(s) at or above their call level are "
                    f"waiting in this run)."
                ),
                subject_type="asset",
                subject_id=symbol,
                subject_url="/risk/prices/",
                dedupe_key=f"stale_price:{symbol}",
                data={"asset": symbol, "blocked_calls": result.stale_blocked},
            )
        )
    if specs:
        alerts_raise_many(specs, now=now)
    for call_id, _loan_id, _ltv in result.met:
        call_alerts_resolve(call_id, now=now, note="margin call met")
    for loan_id in result.recovered:
        alerts_resolve(
            dedupe_key=f"margin_warning:{loan_id}", now=now, note="LTV back below the warning level"
        )
    for symbol in result.fresh_assets:
        alerts_resolve(dedupe_key=f"stale_price:{symbol}", now=now, note="fresh price received")
