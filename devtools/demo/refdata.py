"""Demo reference data and users: a realistic small desk."""

from __future__ import annotations

from datetime import timedelta

from devtools.demo.registry import DEMO_PASSWORD, Seeder, register_seeder
from financing import clock
from financing.accounts.services import user_upsert

ASSETS = [
    ("BTC", "Bitcoin", 8, False, ["bitcoin"]),
    ("ETH", "Ether", 18, False, ["ethereum"]),
    ("USDC", "USD Coin", 6, True, ["ethereum", "solana", "base"]),
    ("USDT", "Tether USD", 6, True, ["ethereum", "tron"]),
    ("SOL", "Solana", 9, False, ["solana"]),
]
VENUES = [
    ("COINBASE-PRIME", "Coinbase Prime", "custodian"),
    ("ANCHORAGE", "Anchorage Digital", "custodian"),
    ("BINANCE", "Binance", "exchange"),
    ("OKX", "OKX", "exchange"),
    ("SIGNATURE", "Cross River Bank", "bank"),
    ("AAVE-V3", "Aave v3", "protocol"),
]
DESKS = [
    ("DELTA1", "Delta One", "medium"),
    ("BASIS", "Basis Trading", "low"),
    ("VOLARB", "Volatility Arbitrage", "high"),
]
# code, legal name, kind, jurisdiction, LEI, risk rating, KYC status, days to expiry
COUNTERPARTIES = [
    ("GALAXY", "Galaxy Digital Capital LLC", "fund", "US", "", "medium", "approved", 240),
    ("WINTERMUTE", "Wintermute Trading Ltd", "market_maker", "GB", "", "low", "approved", 300),
    ("JUMP", "Jump Crypto Holdings LLC", "market_maker", "US", "", "medium", "approved", 20),
    ("KRAKEN", "Payward Inc", "exchange", "US", "", "low", "approved", 400),
    ("ALAMEDA-TEST", "Alameda Research Ltd", "fund", "BS", "", "very_high", "rejected", None),
    ("NORTHSTAR", "Northstar Capital SA", "institution", "CH", "", "medium", "pending", None),
    ("SEAHORSE", "Seahorse Asset Management Pte", "fund", "SG", "", "high", "expired", -5),
    (
        "INTERNAL-TREASURY",
        "Firm Treasury (internal)",
        "internal_desk",
        "US",
        "",
        "low",
        "approved",
        3650,
    ),
]
USERS = [
    ("ops", "ops", None),
    ("ops2", "ops", None),
    ("risk", "risk", None),
    ("treasury", "treasury", None),
    ("compliance", "compliance", None),
    ("compliance2", "compliance", None),
    ("trader", "trading", "DELTA1"),
    ("auditor", "auditor", None),
    ("admin", "admin", None),
]


def seed_refdata(*, now=None) -> str:
    from financing.refdata.models import Asset, Counterparty, Desk, Venue
    from financing.refdata.services import (
        asset_create,
        counterparty_create,
        counterparty_kyc_set,
        desk_create,
        venue_create,
    )

    now = now or clock.now()
    today = now.date()
    made = 0
    for code, name, risk in DESKS:
        if not Desk.objects.filter(code=code).exists():
            desk_create(actor=None, code=code, name=name, risk_profile=risk, reason="demo data")
            made += 1
    users = {}
    for username, role, desk in USERS:
        users[username], _ = user_upsert(
            username=username,
            role=role,
            password=DEMO_PASSWORD,
            desk_code=desk,
            validate=False,
            reason="demo data",
        )
    admin = users["admin"]
    for symbol, name, decimals, stable, chains in ASSETS:
        if not Asset.objects.filter(symbol=symbol).exists():
            asset_create(
                actor=admin,
                symbol=symbol,
                name=name,
                decimals=decimals,
                is_stablecoin=stable,
                chains=chains,
                reason="demo data",
            )
            made += 1
    for code, name, kind in VENUES:
        if not Venue.objects.filter(code=code).exists():
            venue_create(actor=admin, code=code, name=name, kind=kind, reason="demo data")
            made += 1
    for code, name, kind, juris, lei, risk, kyc, days in COUNTERPARTIES:
        if Counterparty.objects.filter(code=code).exists():
            continue
        cp = counterparty_create(
            actor=users["ops"],
            code=code,
            name=name,
            kind=kind,
            jurisdiction=juris,
            lei=lei,
            risk_rating=risk,
            reason="demo data",
        )
        if kyc != "pending":
            # Seed history as it would have happened: approved when onboarded, then aged.
            expiry = today + timedelta(days=days) if days is not None else None
            if kyc == "expired":
                counterparty_kyc_set(
                    actor=users["compliance2"],
                    counterparty=cp,
                    kyc_status="approved",
                    kyc_expires_on=today,
                    today=today,
                    reason="demo data: onboarding",
                )
                cp.refresh_from_db()
                counterparty_kyc_set(
                    actor=None,
                    counterparty=cp,
                    kyc_status="expired",
                    kyc_expires_on=expiry,
                    today=today,
                    reason=f"KYC expired on {expiry}",
                )
            else:
                counterparty_kyc_set(
                    actor=users["compliance2"],
                    counterparty=cp,
                    kyc_status=kyc,
                    kyc_expires_on=expiry,
                    today=today,
                    reason="demo data: onboarding review",
                )
        made += 1
    _seed_pending_kyc_request(users, now)
    return f"{made} reference records created, {len(USERS)} demo users ready"


def _seed_pending_kyc_request(users, now) -> None:
    """One KYC approval waiting in the inbox, made by `compliance` for `compliance2`."""
    from financing.approvals.models import ApprovalRequest
    from financing.refdata.models import Counterparty
    from financing.refdata.services import counterparty_kyc_change_request

    cp = Counterparty.objects.get(code="NORTHSTAR")
    if ApprovalRequest.objects.filter(
        action="counterparty.kyc_change", target_id=str(cp.pk)
    ).exists():
        return
    if cp.kyc_status == "pending":
        counterparty_kyc_change_request(
            actor=users["compliance"],
            counterparty=cp,
            kyc_status="approved",
            kyc_expires_on=now.date() + timedelta(days=365),
            now=now,
            reason="Onboarding file complete: CDD, UBO and sanctions screening clear",
        )


register_seeder(Seeder("refdata", 10, seed_refdata))
