"""Collateral services: prices from feeds, manual prices for approval, and the debounced
revaluation of the loans new prices touch."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.conf import settings
from django.db import connection, transaction

from collateral.engine import Scope, revalue
from collateral.models import (
    PriceSnapshot,
    RevaluationRun,
)
from collateral.services._common import (
    FUTURE_TOLERANCE,
    MANUAL,
    MAX_PRICE,
    MAX_PRICE_AGE,
    SOURCE_RE,
    _require,
)
from financing.approvals.services import approval_request_create
from financing.errors import Conflict, InvalidInput
from financing.refdata.models import Asset

# ---------------------------------------------------------------- prices


@dataclass(frozen=True)
class PriceInput:
    asset: Asset
    price_usd: Decimal
    as_of: datetime
    source: str


def price_validate(row: PriceInput, *, now: datetime, index: int | None = None) -> None:
    def field(name: str) -> str:
        return name if index is None else f"{index}.{name}"

    if not isinstance(row.price_usd, Decimal) or not row.price_usd.is_finite():
        raise InvalidInput("A decimal price, as a string.", field=field("price_usd"))
    if not 0 < row.price_usd <= MAX_PRICE:
        raise InvalidInput("A price above zero and below 1e15 USD.", field=field("price_usd"))
    if row.price_usd != row.price_usd.quantize(Decimal("1e-18")):
        raise InvalidInput("At most 18 decimal places.", field=field("price_usd"))
    if row.as_of.tzinfo is None:
        raise InvalidInput("A time with its UTC offset.", field=field("as_of"))
    if row.as_of > now + FUTURE_TOLERANCE:
        raise InvalidInput("The price is dated in the future.", field=field("as_of"))
    if row.as_of < now - MAX_PRICE_AGE:
        raise InvalidInput("The price is more than 30 days old.", field=field("as_of"))
    if not SOURCE_RE.match(row.source or ""):
        raise InvalidInput(
            "A source name: lower-case letters, digits and _.:- (at most 64).",
            field=field("source"),
        )
    if not row.asset.is_active:
        raise InvalidInput(f"{row.asset.symbol} is inactive.", field=field("asset"))


def prices_record(
    *, rows: list[PriceInput], now: datetime, actor=None, validated: bool = False
) -> dict[str, int]:
    """Store feed prices (never `manual`: that needs approval). A snapshot already stored for
    the same asset, source and time is skipped. Loans the new prices touch are revalued just
    after commit (debounced, collateral/tasks.py)."""
    if actor is not None:
        _require(actor, "prices.submit", "submit prices")
    if not validated:
        for i, row in enumerate(rows):
            price_validate(row, now=now, index=i if len(rows) > 1 else None)
            if row.source == MANUAL:
                raise InvalidInput(
                    "A manual price needs approval: submit it on its own.", field="source"
                )
    if not rows:
        return {"stored": 0, "duplicates": 0}
    with transaction.atomic():
        with connection.cursor() as cur:
            cur.execute(
                "INSERT INTO collateral_pricesnapshot (asset_id, price_usd, as_of, source,"
                " received_at, created_by_id)"
                " SELECT * FROM unnest(%s::bigint[], %s::numeric[], %s::timestamptz[], %s::text[])"
                " , LATERAL (SELECT %s::timestamptz, %s::bigint) extra"
                " ON CONFLICT (asset_id, source, as_of) DO NOTHING RETURNING asset_id",
                [
                    [r.asset.pk for r in rows],
                    [r.price_usd for r in rows],
                    [r.as_of for r in rows],
                    [r.source for r in rows],
                    now,
                    actor.pk if actor is not None else None,
                ],
            )
            inserted = cur.fetchall()
        landed = {r[0] for r in inserted}
        stored = len(inserted)
        prices_touch(asset_ids=landed, now=now)
    return {"stored": stored, "duplicates": len(rows) - stored}


def prices_touch(*, asset_ids: set[int], now: datetime) -> None:
    """Mark assets as repriced and schedule the debounced revaluation of the loans they touch."""
    if not asset_ids:
        return
    with connection.cursor() as cur:
        cur.execute(
            "INSERT INTO collateral_pricetouch (asset_id, touched_at) SELECT unnest(%s), %s "
            "ON CONFLICT (asset_id) DO UPDATE SET touched_at = EXCLUDED.touched_at",
            [sorted(asset_ids), now],
        )
    if settings.REVALUE_ON_PRICES:
        from collateral.tasks import revalue_touched_task

        transaction.on_commit(
            lambda: revalue_touched_task.apply_async(countdown=settings.REVALUE_DEBOUNCE_SECONDS)
        )


def revalue_touched(*, now: datetime, trigger: str = "prices") -> RevaluationRun | None:
    """Revalue the loans touched by prices that arrived since the last such run (the debounced
    step after new prices). Several queued tasks after one burst of prices do the work once:
    the first drains the touched assets, the others find none."""
    with transaction.atomic():
        with connection.cursor() as cur:
            cur.execute(
                "DELETE FROM collateral_pricetouch WHERE touched_at <= %s RETURNING asset_id",
                [now],
            )
            assets = tuple(sorted(r[0] for r in cur.fetchall()))
        if not assets:
            return None
        return revalue(
            now=now,
            scope=Scope(kind=RevaluationRun.Scope.TOUCHED, asset_ids=assets),
            trigger=trigger,
        ).run


def price_manual_request(
    *, actor, asset: Asset, price_usd: Decimal, as_of: datetime, now: datetime, reason: str = ""
):
    """A manual price waits for a checker (approval `price.manual`)."""
    _require(actor, "prices.submit", "submit prices")
    price_validate(PriceInput(asset, price_usd, as_of, MANUAL), now=now)
    return approval_request_create(
        action="price.manual",
        maker=actor,
        payload={"asset": asset.pk, "price_usd": str(price_usd), "as_of": as_of.isoformat()},
        now=now,
        target=asset,
        summary=f"manual price {asset.symbol} = {price_usd} USD as of {as_of:%Y-%m-%d %H:%M}Z",
        reason=reason,
    )


def price_manual_apply(*, approval, checker, now: datetime) -> PriceSnapshot:
    payload = approval.payload
    asset = Asset.objects.get(pk=payload["asset"])
    snapshot, created = PriceSnapshot.objects.get_or_create(
        asset=asset,
        source=MANUAL,
        as_of=datetime.fromisoformat(payload["as_of"]),
        defaults={
            "price_usd": Decimal(payload["price_usd"]),
            "received_at": now,
            "created_by": approval.maker,
            "approval": approval,
        },
    )
    if not created:
        raise Conflict(f"A manual {asset.symbol} price for that time is already stored.")
    prices_touch(asset_ids={asset.pk}, now=now)
    return snapshot
