"""Collateral services: haircuts and margin policies."""

from __future__ import annotations

import itertools
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction

from collateral.models import (
    Haircut,
    MarginPolicy,
)
from collateral.services._common import (
    _check_fraction,
    _require,
)
from financing.errors import Conflict, InvalidInput
from financing.history import save_stamped
from financing.refdata.models import Asset, Counterparty, Venue

# ---------------------------------------------------------------- haircuts and policies


def haircut_set(
    *,
    actor,
    asset: Asset,
    haircut: Decimal,
    now: datetime,
    venue: Venue | None = None,
    counterparty: Counterparty | None = None,
    reason: str = "",
) -> Haircut:
    """Set the haircut of an asset for a scope (asset default, venue, counterparty, or both)."""
    _require(actor, "risk.configure", "set haircuts")
    _check_fraction(haircut, "haircut", low=Decimal(0), high=Decimal(1))
    with transaction.atomic():
        row = (
            Haircut.objects.select_for_update()
            .filter(asset=asset, venue=venue, counterparty=counterparty)
            .order_by()
            .first()
        )
        if row is None:
            row = Haircut(asset=asset, venue=venue, counterparty=counterparty)
        row.haircut = haircut
        row.updated_by = actor
        row.updated_at = now
        try:
            with transaction.atomic():
                save_stamped(row, actor=actor, reason=reason or "haircut set")
        except IntegrityError:
            raise Conflict(
                "This haircut was set at the same moment by someone else; retry."
            ) from None
    return row


POLICY_FIELDS = ("initial_ltv", "warning_ltv", "call_ltv", "liquidation_ltv", "release_ltv")


def margin_policy_set(
    *,
    actor,
    now: datetime,
    terms: dict[str, Any],
    counterparty: Counterparty | None = None,
    asset: Asset | None = None,
    reason: str = "",
) -> MarginPolicy:
    """Set the default margin terms of a scope. All five levels and the cure period, rising:
    release < initial < warning < call < liquidation."""
    _require(actor, "risk.configure", "set margin policies")
    clean: dict[str, Any] = {}
    for name in POLICY_FIELDS:
        if name not in terms or terms[name] is None:
            raise InvalidInput("Required.", field=name)
        clean[name] = _check_fraction(terms[name], name, low=Decimal("0.01"), high=Decimal(5))
    cure = terms.get("cure_hours")
    if isinstance(cure, bool) or not isinstance(cure, int) or not 1 <= cure <= 720:
        raise InvalidInput("A whole number of hours from 1 to 720.", field="cure_hours")
    ladder = ["release_ltv", "initial_ltv", "warning_ltv", "call_ltv", "liquidation_ltv"]
    for low, high in itertools.pairwise(ladder):
        if clean[low] >= clean[high]:
            raise InvalidInput(f"{low} must be below {high}.", field=high)
    with transaction.atomic():
        row = (
            MarginPolicy.objects.select_for_update()
            .filter(counterparty=counterparty, asset=asset)
            .order_by()
            .first()
        ) or MarginPolicy(counterparty=counterparty, asset=asset)
        for name, value in clean.items():
            setattr(row, name, value)
        row.cure_hours = cure
        row.updated_by = actor
        row.updated_at = now
        try:
            with transaction.atomic():
                save_stamped(row, actor=actor, reason=reason or "margin policy set")
        except IntegrityError:
            raise Conflict(
                "This policy was set at the same moment by someone else; retry."
            ) from None
    return row
