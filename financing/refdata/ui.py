"""Reference data in the UI shell: nav entries and the two KYC tiles."""

from __future__ import annotations

from datetime import timedelta

from django.urls import reverse

from financing.dashboard.registry import NavItem, Tile, register_nav, register_tile

# The KYC tiles count active counterparties only, so their links filter on is_active too:
# the list a tile opens has exactly as many rows as the tile says.


def _kyc_expiring(user, now):
    from financing.refdata.models import Counterparty

    soon = now.date() + timedelta(days=30)
    count = Counterparty.objects.filter(
        kyc_status="approved", kyc_expires_on__lte=soon, is_active=True
    ).count()
    return {
        "value": count,
        "detail": "approved KYC expiring within 30 days",
        "tone": "warn" if count else "ok",
        "url": reverse("refdata:counterparty-list")
        + f"?kyc_status=approved&kyc_expires_before={soon}&is_active=true",
    }


def _kyc_blocked(user, now):
    from financing.refdata.models import Counterparty

    count = Counterparty.objects.filter(is_active=True).exclude(kyc_status="approved").count()
    return {
        "value": count,
        "detail": "active counterparties that cannot transact (KYC)",
        "tone": "bad" if count else "ok",
        "url": reverse("refdata:counterparty-list") + "?kyc_status=not_approved&is_active=true",
    }


register_tile(Tile("refdata.kyc_expiring", "KYC expiring", "refdata.view", _kyc_expiring, 50))
register_tile(Tile("refdata.kyc_blocked", "KYC blocked", "refdata.view", _kyc_blocked, 51))
for item in [
    NavItem("Reference data", "Counterparties", "refdata:counterparty-list", "refdata.view", 0),
    NavItem("Reference data", "Assets", "refdata:asset-list", "refdata.view", 1),
    NavItem("Reference data", "Venues", "refdata:venue-list", "refdata.view", 2),
    NavItem("Reference data", "Desks", "refdata:desk-list", "refdata.view", 3),
]:
    register_nav(item)
