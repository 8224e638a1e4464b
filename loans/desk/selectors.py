"""The borrow desk's reads: which requests a user may see (the one visibility rule the API,
the pages and the services share) and inventory per asset (domain.md, Borrow desk).

Inventory per asset = lendable (treasury) - buffers - allocated - on loan; utilization = on
loan / lendable. `allocated` is the allocations not yet on the book as a live loan (active, or
booked as a loan still waiting for approval)."""

from __future__ import annotations

from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal

from django.db import connection
from django.db.models import QuerySet

from financing.accounts.roles import Role
from financing.refdata.models import Asset
from loans.desk.models import (
    OPEN_STATUSES,
    Allocation,
    AssetInventory,
    BorrowRequest,
    RequestStatus,
)
from loans.models import LIVE_STATUSES, LoanStatus
from treasury.selectors import lendable_by_asset


def is_trading(user) -> bool:
    return getattr(user, "role", None) == Role.TRADING


def _desk_scope(user) -> int | None:
    """The one visibility rule: a trading user is confined to its own desk's requests (its desk
    id); staff see every desk's (None)."""
    return user.desk_id if is_trading(user) else None


def requests_visible_to(user, qs: QuerySet | None = None) -> QuerySet:
    """The requests a user may see. Every read of requests on behalf of a user starts here
    (API, pages, exports)."""
    qs = BorrowRequest.objects.all() if qs is None else qs
    desk_id = _desk_scope(user)
    return qs if desk_id is None else qs.filter(desk_id=desk_id)


def request_is_own(user, request: BorrowRequest) -> bool:
    """A trading user's own desk's request (the same rule, for a request already read)."""
    desk_id = _desk_scope(user)
    return desk_id is not None and request.desk_id == desk_id


def requests_for_pages(user) -> QuerySet:
    """What the pages list: the visible requests with everything a row shows selected."""
    return requests_visible_to(user).select_related(
        "desk", "asset", "counterparty", "requested_by", "loan", "external_loan"
    )


def requests_open():
    return BorrowRequest.objects.filter(status__in=OPEN_STATUSES)


def requests_past_sla(now: datetime, qs: QuerySet | None = None) -> QuerySet:
    """Requests still waiting for their first response after it was due."""
    qs = BorrowRequest.objects.all() if qs is None else qs
    return qs.filter(
        status=RequestStatus.SUBMITTED, first_response_at__isnull=True, sla_due_at__lte=now
    )


# ---------------------------------------------------------------- inventory

_INVENTORY_SQL = f"""
SELECT a.id,
       COALESCE((SELECT sum(l.outstanding_principal) FROM loans_loan l
                 WHERE l.asset_id = a.id AND l.direction = 'lend'
                   AND l.status = ANY(%(live)s)), 0) AS on_loan,
       COALESCE((SELECT sum(al.quantity) FROM {Allocation._meta.db_table} al
                 LEFT JOIN loans_loan bl ON bl.id = al.loan_id
                 WHERE al.asset_id = a.id AND al.status <> 'released'
                   AND (al.status = 'active'
                        OR bl.status IN ('{LoanStatus.DRAFT}', '{LoanStatus.PENDING_APPROVAL}'))),
                0) AS allocated
FROM refdata_asset a
WHERE a.id = ANY(%(ids)s)
"""


def _committed(asset_ids: list[int]) -> dict[int, tuple[Decimal, Decimal]]:
    """asset_id -> (on loan, allocated): what the desk has already committed of each asset."""
    with connection.cursor() as cur:
        cur.execute(_INVENTORY_SQL, {"ids": asset_ids, "live": list(LIVE_STATUSES)})
        return {asset_id: (on_loan, allocated) for asset_id, on_loan, allocated in cur.fetchall()}


def _figures(held: dict, on_loan: Decimal, allocated: Decimal) -> dict[str, Decimal]:
    total = held.get("lendable", Decimal(0))
    buffer = held.get("buffer", Decimal(0))
    available = total - buffer - allocated - on_loan
    return {
        "lendable": total,
        "buffer": buffer,
        "allocated": allocated,
        "on_loan": on_loan,
        "available": max(available, Decimal(0)),
        "shortfall": max(-available, Decimal(0)),
        "utilization": (on_loan / total).quantize(Decimal("1e-6"), ROUND_HALF_EVEN)
        if total > 0
        else None,
    }


def inventory(asset_ids: list[int] | None = None) -> dict[int, dict[str, Decimal]]:
    """Per asset: lendable, buffer, allocated, on loan, available, utilization."""
    ids = (
        asset_ids
        if asset_ids is not None
        else list(Asset.objects.filter(is_active=True).values_list("pk", flat=True))
    )
    lendable = lendable_by_asset(asset_ids=ids)
    return {
        asset_id: _figures(lendable.get(asset_id, {}), on_loan, allocated)
        for asset_id, (on_loan, allocated) in _committed(ids).items()
    }


def available_locked(asset_id: int, *, now: datetime) -> Decimal:
    """Take the asset's inventory row lock (creating the row the first time, in one statement),
    then read what is available: every allocator of the asset queues on the lock until the
    holder commits, and every figure is read once it is held, so a balance that changed while
    this allocation queued is seen. Called inside the allocation's transaction."""
    with connection.cursor() as cur:
        cur.execute(
            f"INSERT INTO {AssetInventory._meta.db_table} (asset_id, locked_at) VALUES (%s, %s) "
            "ON CONFLICT (asset_id) DO UPDATE SET locked_at = EXCLUDED.locked_at",
            [asset_id, now],
        )
    held = lendable_by_asset(asset_ids=[asset_id]).get(asset_id, {})
    return _figures(held, *_committed([asset_id])[asset_id])["available"]
