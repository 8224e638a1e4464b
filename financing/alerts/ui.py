"""Alerts in the UI shell: navigation entries and the "Open alerts" dashboard tile."""

from __future__ import annotations

from django.urls import reverse

from financing.dashboard.registry import NavItem, Tile, register_nav, register_tile


def _open_alerts(user, now):
    from financing.alerts.selectors import alerts_summary

    c = alerts_summary()
    detail = f"{c['critical']} critical · {c['unacknowledged']} not acknowledged"
    if c["failed_deliveries"]:
        detail += f" · {c['failed_deliveries']} failed deliveries"
    if c["critical"]:
        tone = "bad"
    elif c["live"] or c["failed_deliveries"]:
        tone = "warn"
    else:
        tone = "ok"
    return {
        "value": c["live"],
        "detail": detail,
        "tone": tone,
        "url": reverse("alerts:list") + "?status=live",
        "critical": c["critical"],
    }


register_nav(NavItem("Overview", "Alerts", "alerts:list", "alerts.view", order=5))
register_nav(NavItem("Operations", "Alert deliveries", "alerts:deliveries", "alerts.view", 2))
register_nav(NavItem("Operations", "Alert webhooks", "alerts:webhooks", "alerts.configure", 3))
register_tile(Tile("alerts.open", "Open alerts", "alerts.view", _open_alerts, order=5))
