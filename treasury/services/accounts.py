"""Treasury services: accounts per venue, asset and purpose."""

from __future__ import annotations

from datetime import datetime

from django.db import IntegrityError, transaction

from financing.errors import Conflict, InvalidInput
from financing.history import save_stamped
from financing.refdata.models import Asset, Venue
from treasury.models import AccountPurpose, TreasuryAccount
from treasury.services._common import _require


def treasury_account_create(
    *, actor, venue: Venue, asset: Asset, purpose: str, now: datetime, name: str = ""
) -> TreasuryAccount:
    """Open an account for an asset at a venue, for one purpose (one per venue+asset+purpose)."""
    _require(actor, "open treasury accounts")
    if purpose not in AccountPurpose.values:
        raise InvalidInput(f"One of {', '.join(AccountPurpose.values)}.", field="purpose")
    name = (name or "").strip()
    if len(name) > 100:
        raise InvalidInput("At most 100 characters.", field="name")
    if not asset.is_active:
        raise InvalidInput(f"{asset.symbol} is not active.", field="asset")
    if venue.status != "active":
        raise InvalidInput(f"{venue.code} is not active.", field="venue")
    account = TreasuryAccount(
        venue=venue,
        asset=asset,
        purpose=purpose,
        name=name,
        created_by=actor,
        created_at=now,
    )
    try:
        with transaction.atomic():
            save_stamped(account, actor=actor, reason="treasury account opened")
    except IntegrityError:
        raise Conflict(
            f"A {purpose} account for {asset.symbol} at {venue.code} already exists."
        ) from None
    return account


def treasury_account_update(
    *,
    actor,
    account: TreasuryAccount,
    now: datetime,
    name: str | None = None,
    is_active: bool | None = None,
) -> TreasuryAccount:
    """Rename an account or take it out of (or back into) use. An inactive account keeps its
    history but takes no balances and counts for no inventory."""
    _require(actor, "change treasury accounts")
    if name is not None:
        name = name.strip()
        if len(name) > 100:
            raise InvalidInput("At most 100 characters.", field="name")
    if is_active is not None and not isinstance(is_active, bool):
        raise InvalidInput("true or false.", field="is_active")
    with transaction.atomic():
        row = TreasuryAccount.objects.select_for_update(of=("self",)).get(pk=account.pk)
        changed = []
        if name is not None and name != row.name:
            row.name = name
            changed.append("renamed")
        if is_active is not None and is_active != row.is_active:
            row.is_active = is_active
            changed.append("activated" if is_active else "deactivated")
        if changed:
            save_stamped(row, actor=actor, reason="treasury account " + ", ".join(changed))
    return TreasuryAccount.objects.select_related("venue", "asset", "created_by").get(pk=row.pk)
