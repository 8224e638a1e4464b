"""The API in the UI shell: the link to its docs."""

from __future__ import annotations

from financing.dashboard.registry import NavItem, register_nav

register_nav(NavItem("Operations", "API docs", "api:docs", "dashboard.view", 5))
