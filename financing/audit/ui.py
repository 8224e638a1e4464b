"""The audit trail in the UI shell: its two nav entries."""

from __future__ import annotations

from financing.dashboard.registry import NavItem, register_nav

register_nav(NavItem("Audit", "Activity", "audit:activity", "audit.view", 0))
register_nav(NavItem("Audit", "Logins & tokens", "audit:auth-events", "audit.auth_events", 1))
