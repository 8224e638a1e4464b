"""The alert kinds the collateral app raises (domain.md: warning, call, escalation,
liquidation, stale price and limit breach)."""

from __future__ import annotations

from financing.accounts.roles import Role
from financing.alerts.registry import AlertKind, register_kind

RISK = (Role.RISK, Role.OPS, Role.ADMIN)

for kind in (
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
):
    register_kind(kind)
