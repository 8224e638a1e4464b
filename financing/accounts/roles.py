"""Roles and the permission matrix: the one place that says who may do what.

Views (pages and API) name a capability; `can(user, capability)` answers. Approvals add a
second gate per action (the policy's approver roles), and segregation of duties (the maker
never approves) is enforced by the approvals service and the database.
"""

from __future__ import annotations

from django.db import models


class Role(models.TextChoices):
    OPS = "ops", "Operations"
    RISK = "risk", "Risk"
    TREASURY = "treasury", "Treasury"
    COMPLIANCE = "compliance", "Compliance"
    TRADING = "trading", "Trading desk"
    AUDITOR = "auditor", "Auditor"
    ADMIN = "admin", "Administrator"


ALL = frozenset(Role.values)
STAFF = ALL - {Role.TRADING}
#: Roles that may ever act as a checker. Trading and auditors never approve anything.
CHECKER_ROLES = frozenset({Role.OPS, Role.RISK, Role.TREASURY, Role.COMPLIANCE, Role.ADMIN})

MATRIX: dict[str, frozenset[str]] = {
    "dashboard.view": ALL,
    # reference data
    "refdata.view": ALL,
    "refdata.manage": frozenset({Role.OPS, Role.ADMIN}),
    "counterparty.manage": frozenset({Role.OPS, Role.COMPLIANCE, Role.ADMIN}),
    "counterparty.kyc": frozenset({Role.COMPLIANCE}),
    # maker-checker
    "approvals.view": STAFF,
    "approvals.decide": CHECKER_ROLES,
    "approvals.configure": frozenset({Role.ADMIN}),
    # audit trail
    "audit.view": frozenset({Role.AUDITOR, Role.ADMIN, Role.COMPLIANCE, Role.RISK, Role.OPS}),
    "audit.auth_events": frozenset({Role.AUDITOR, Role.ADMIN, Role.COMPLIANCE}),
    # loan book
    "loans.view": STAFF,
    "loans.book": frozenset({Role.OPS, Role.ADMIN}),
    "loans.service": frozenset({Role.OPS, Role.ADMIN}),
    "loans.rate_change": frozenset({Role.OPS, Role.RISK, Role.ADMIN}),
    "loans.default": frozenset({Role.OPS, Role.RISK, Role.ADMIN}),
    "loans.write_off": frozenset({Role.RISK, Role.OPS, Role.ADMIN}),
    # treasury and the borrow desk (issue 5)
    "treasury.view": STAFF,
    "treasury.manage": frozenset({Role.TREASURY, Role.ADMIN}),
    "inventory.view": ALL,
    "borrow.submit": frozenset({Role.TRADING}),
    "borrow.view": ALL,  # a trading user sees only its own desk's requests
    "borrow.work": frozenset({Role.OPS, Role.ADMIN}),
    # collateral, prices and margin (issue 4)
    "collateral.view": STAFF,
    "collateral.move": frozenset({Role.OPS, Role.RISK, Role.ADMIN}),
    "prices.view": STAFF,
    "prices.submit": frozenset({Role.OPS, Role.RISK, Role.ADMIN}),
    "risk.configure": frozenset({Role.RISK, Role.ADMIN}),
    "margin.act": frozenset({Role.RISK, Role.OPS, Role.ADMIN}),
    "stress.run": frozenset({Role.RISK, Role.ADMIN, Role.OPS}),
    # alerts
    "alerts.view": STAFF,
    "alerts.act": frozenset({Role.OPS, Role.RISK, Role.TREASURY, Role.COMPLIANCE, Role.ADMIN}),
    "alerts.configure": frozenset({Role.RISK, Role.ADMIN}),
    # jobs
    "jobs.view": STAFF,
    "jobs.run": frozenset({Role.OPS, Role.ADMIN}),
    # administration
    "users.manage": frozenset({Role.ADMIN}),
}


def can(user, capability: str) -> bool:
    if capability not in MATRIX:
        raise KeyError(f"unknown capability {capability!r}")
    if user is None or not user.is_authenticated or not user.is_active:
        return False
    return getattr(user, "role", None) in MATRIX[capability]


def capabilities_of(role: str) -> set[str]:
    return {cap for cap, roles in MATRIX.items() if role in roles}
