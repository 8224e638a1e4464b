"""Treasury reads: lendable inventory per asset (what the borrow desk allocates from), the
latest balance of every account, and the lendable history for the inventory chart.

Every read here is one set-based query: the latest snapshot of an account is a LATERAL probe
on the (account, -as_of, -id) index, never a Python loop over accounts."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.db import connection
from django.db.models import OuterRef, QuerySet, Subquery

from financing import clock
from financing.refdata.models import Asset
from treasury.models import AccountPurpose, BalanceSnapshot, BufferLevel, TreasuryAccount

ZERO = Decimal(0)
MAX_HISTORY_DAYS = 366

_ACCOUNTS = TreasuryAccount._meta.db_table
_SNAPSHOTS = BalanceSnapshot._meta.db_table
_BUFFERS = BufferLevel._meta.db_table
_ASSETS = Asset._meta.db_table


def lendable_by_asset(*, asset_ids: Iterable[int] | None = None) -> dict[int, dict]:
    """asset_id -> {"lendable": Decimal, "buffer": Decimal, "accounts": int}.

    `lendable` sums the latest balance of every active lendable account of the asset (an
    account with no balance yet counts as zero); `buffer` sums the asset's buffer minimums
    (per venue and across venues). An asset with buffers and no lendable account appears with
    lendable 0. The borrow desk subtracts the buffer and what it has allocated or lent."""
    ids = None if asset_ids is None else sorted({int(a) for a in asset_ids})
    if ids is not None and not ids:
        return {}
    asset_filter = "" if ids is None else "AND a.asset_id = ANY(%(ids)s)"
    buffer_filter = "" if ids is None else "WHERE b.asset_id = ANY(%(ids)s)"
    sql = f"""
        WITH lend AS (
            SELECT a.asset_id, COALESCE(SUM(latest.amount), 0) AS lendable, COUNT(*) AS accounts
            FROM {_ACCOUNTS} a
            LEFT JOIN LATERAL (
                SELECT s.amount FROM {_SNAPSHOTS} s
                WHERE s.account_id = a.id
                ORDER BY s.as_of DESC, s.id DESC
                LIMIT 1
            ) latest ON true
            WHERE a.is_active AND a.purpose = %(purpose)s {asset_filter}
            GROUP BY a.asset_id
        ), buf AS (
            SELECT b.asset_id, SUM(b.minimum) AS buffer
            FROM {_BUFFERS} b {buffer_filter}
            GROUP BY b.asset_id
        )
        SELECT COALESCE(lend.asset_id, buf.asset_id), COALESCE(lend.lendable, 0),
               COALESCE(buf.buffer, 0), COALESCE(lend.accounts, 0)
        FROM lend FULL OUTER JOIN buf ON buf.asset_id = lend.asset_id
    """
    with connection.cursor() as cur:
        cur.execute(sql, {"purpose": AccountPurpose.LENDABLE, "ids": ids})
        return {
            asset_id: {"lendable": lendable, "buffer": buffer, "accounts": accounts}
            for asset_id, lendable, buffer, accounts in cur.fetchall()
        }


def balances_latest(
    *,
    asset: str | None = None,
    venue: str | None = None,
    purpose: str | None = None,
    active_only: bool = False,
) -> QuerySet[TreasuryAccount]:
    """Accounts with their latest balance annotated (`balance`, `balance_as_of`,
    `balance_source`; null when none yet): one query whatever the number of accounts or
    snapshots, each annotation an index probe."""
    latest = BalanceSnapshot.objects.filter(account=OuterRef("pk")).order_by("-as_of", "-id")
    qs = (
        TreasuryAccount.objects.select_related("venue", "asset", "created_by")
        .annotate(
            balance=Subquery(latest.values("amount")[:1]),
            balance_as_of=Subquery(latest.values("as_of")[:1]),
            balance_source=Subquery(latest.values("source")[:1]),
        )
        .order_by("asset__symbol", "venue__code", "purpose")
    )
    if asset:
        qs = qs.filter(asset__symbol__iexact=asset)
    if venue:
        qs = qs.filter(venue__code__iexact=venue)
    if purpose:
        qs = qs.filter(purpose=purpose)
    if active_only:
        qs = qs.filter(is_active=True)
    return qs


def lendable_history(days: int = 30, *, now: datetime | None = None) -> dict:
    """The lendable total per asset at the end of each UTC day, for the last `days` days up to
    and including today (today: so far). One query: generate_series over days x active
    lendable accounts, each probing its latest snapshot before the next midnight.

    Answers {"days": [date, ...], "assets": {symbol: [Decimal per day, ...]}}. Accounts count
    by their current state: a deactivated account drops out of the past as well."""
    days = max(1, min(int(days), MAX_HISTORY_DAYS))
    today = clock.business_date(now)
    first = today - timedelta(days=days - 1)
    sql = f"""
        SELECT ast.symbol, d.day::date, COALESCE(SUM(latest.amount), 0)
        FROM generate_series(%(first)s::date, %(last)s::date, interval '1 day') AS d(day)
        CROSS JOIN {_ACCOUNTS} a
        JOIN {_ASSETS} ast ON ast.id = a.asset_id
        LEFT JOIN LATERAL (
            SELECT s.amount FROM {_SNAPSHOTS} s
            WHERE s.account_id = a.id
              AND s.as_of < ((d.day::date + 1)::timestamp AT TIME ZONE 'UTC')
            ORDER BY s.as_of DESC, s.id DESC
            LIMIT 1
        ) latest ON true
        WHERE a.is_active AND a.purpose = %(purpose)s
        GROUP BY ast.symbol, d.day
        ORDER BY ast.symbol, d.day
    """
    day_list: list[date] = [first + timedelta(days=i) for i in range(days)]
    index = {d: i for i, d in enumerate(day_list)}
    series: dict[str, list[Decimal]] = {}
    with connection.cursor() as cur:
        cur.execute(sql, {"first": first, "last": today, "purpose": AccountPurpose.LENDABLE})
        for symbol, day, total in cur.fetchall():
            series.setdefault(symbol, [ZERO] * days)[index[day]] = total
    return {"days": day_list, "assets": series}
