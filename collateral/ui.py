"""Collateral and margin in the UI shell: navigation entries and home-dashboard tiles."""

from __future__ import annotations

from django.urls import reverse

from financing.dashboard.registry import NavItem, Tile, register_nav, register_tile


def _open_calls(user, now):
    from collateral.models import MarginCall

    calls = MarginCall.objects.filter(closed_at__isnull=True)
    n = calls.count()
    late = calls.filter(deadline__lte=now).count()
    return {
        "value": n,
        "detail": "open margin calls" + (f" · {late} past deadline" if late else ""),
        "tone": "bad" if late else ("warn" if n else "ok"),
        "url": reverse("collateral:calls") + "?is_open=true",
    }


def _stale_prices(user, now):
    from collateral.selectors import prices_latest

    prices = prices_latest(now=now)
    stale = [p["asset"] for p in prices if p["stale"]]
    return {
        "value": len(stale),
        "detail": ("stale: " + ", ".join(stale)) if stale else f"{len(prices)} prices, all fresh",
        "tone": "bad" if stale else "ok",
        "url": reverse("collateral:prices"),
    }


register_nav(NavItem("Risk", "Risk dashboard", "collateral:dashboard", "collateral.view", order=10))
register_nav(NavItem("Risk", "Margin calls", "collateral:calls", "collateral.view", order=20))
register_nav(NavItem("Risk", "Collateral", "collateral:positions", "collateral.view", order=30))
register_nav(NavItem("Risk", "Prices", "collateral:prices", "prices.view", order=40))
register_nav(NavItem("Risk", "Haircuts", "collateral:haircuts", "collateral.view", order=50))
register_nav(NavItem("Risk", "Margin policies", "collateral:policies", "collateral.view", order=60))
register_nav(NavItem("Risk", "Stress tests", "collateral:stress", "collateral.view", order=70))
register_nav(
    NavItem("Risk", "Concentration limits", "collateral:limits", "collateral.view", order=80)
)
register_tile(Tile("collateral.calls", "Margin calls", "collateral.view", _open_calls, order=30))
register_tile(Tile("collateral.prices", "Prices", "prices.view", _stale_prices, order=31))
