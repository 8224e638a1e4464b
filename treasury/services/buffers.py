"""Treasury services: buffer levels, the minimum of an asset kept unlent."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from django.db import IntegrityError, transaction

from financing.errors import Conflict
from financing.history import save_stamped
from financing.refdata.models import Asset, Venue
from treasury.models import BufferLevel
from treasury.services._common import _check_amount, _require


def buffer_level_set(
    *, actor, asset: Asset, minimum: Decimal, now: datetime, venue: Venue | None = None
) -> BufferLevel:
    """Set the minimum of an asset treasury keeps unlent, at a venue or across venues (null)."""
    _require(actor, "set buffer levels")
    _check_amount(minimum, asset, "minimum")
    with transaction.atomic():
        row = (
            BufferLevel.objects.select_for_update()
            .filter(asset=asset, venue=venue)
            .order_by()
            .first()
        ) or BufferLevel(asset=asset, venue=venue)
        row.minimum = minimum
        row.updated_by = actor
        row.updated_at = now
        try:
            with transaction.atomic():
                save_stamped(row, actor=actor, reason="buffer level set")
        except IntegrityError:
            raise Conflict(
                "This buffer was set at the same moment by someone else; retry."
            ) from None
    return row
