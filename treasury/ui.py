"""Treasury in the UI shell: navigation entries and a home-dashboard tile."""

from __future__ import annotations

from django.urls import reverse

from financing.dashboard.registry import NavItem, Tile, register_nav, register_tile


def _lendable(user, now):
    from financing.refdata.models import Asset
    from treasury.selectors import lendable_by_asset

    figures = lendable_by_asset()
    short_ids = [pk for pk, f in figures.items() if f["lendable"] < f["buffer"]]
    short = sorted(Asset.objects.filter(pk__in=short_ids).values_list("symbol", flat=True))
    lendable = sum(1 for f in figures.values() if f["lendable"] > 0)
    return {
        "value": lendable,
        "detail": (
            "assets with lendable inventory"
            + (f" · below buffer: {', '.join(short)}" if short else "")
        ),
        "tone": "bad" if short else ("ok" if lendable else "neutral"),
        "url": reverse("treasury:accounts"),
    }


register_nav(NavItem("Treasury", "Accounts & inventory", "treasury:accounts", "treasury.view", 10))
register_nav(NavItem("Treasury", "Balance snapshots", "treasury:balances", "treasury.view", 20))
register_nav(NavItem("Treasury", "Buffers", "treasury:buffers", "treasury.view", 30))
register_tile(Tile("treasury.lendable", "Lendable inventory", "treasury.view", _lendable, order=40))
