"""The dashboard's own navigation entry. Every other app registers its nav entries, tiles and
home charts from its own ui.py (financing.dashboard.registry)."""

from __future__ import annotations

from financing.dashboard.registry import NavItem, register_nav

register_nav(NavItem("Overview", "Dashboard", "dashboard:home", "dashboard.view", 0))
