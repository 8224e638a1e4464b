"""Treasury services: balance snapshots, one or many, all or none. Snapshots are append-only:
one already stored for an account at a time is a duplicate when it agrees and refused when not."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from django.db import transaction

from financing.errors import Conflict, InvalidInput
from treasury.models import BalanceSnapshot, TreasuryAccount
from treasury.services._common import (
    MAX_BALANCES_PER_CALL,
    SOURCE_RE,
    _check_amount,
    _check_as_of,
    _require,
)


@dataclass(frozen=True)
class BalanceInput:
    account: TreasuryAccount
    amount: Decimal
    as_of: datetime
    #: How errors name this row ("amount", "3.amount", "Row 4: amount").
    label: str = ""


def _err_field(label: str, field: str) -> str:
    return f"{label}.{field}" if label else field


def balances_record(
    *, actor, rows: list[BalanceInput], now: datetime, source: str = "api"
) -> dict[str, int]:
    """Store balance snapshots, all or none. A row matching a stored snapshot (same account,
    time and amount) is a duplicate and stores nothing; the same account and time with another
    amount is refused (snapshots are never edited). Answers {"stored", "duplicates"}."""
    _require(actor, "record balances")
    if not isinstance(source, str) or not SOURCE_RE.match(source):
        raise InvalidInput("Lower-case letters, digits and . _ : - (at most 64).", field="source")
    if not rows:
        raise InvalidInput("Send at least one balance.", field="detail")
    if len(rows) > MAX_BALANCES_PER_CALL:
        raise InvalidInput(f"At most {MAX_BALANCES_PER_CALL} balances at once.", field="detail")
    clean: dict[tuple[int, datetime], tuple[Decimal, str]] = {}
    duplicates = 0
    for r in rows:
        acct = r.account
        if not acct.is_active:
            raise InvalidInput(
                f"Account {acct.pk} ({acct}) is inactive: it takes no balances.",
                field=_err_field(r.label, "account"),
            )
        amount = _check_amount(r.amount, acct.asset, _err_field(r.label, "amount"))
        as_of = _check_as_of(r.as_of, now, _err_field(r.label, "as_of"))
        key = (acct.pk, as_of)
        if key in clean:
            if clean[key][0] != amount:
                raise InvalidInput(
                    f"Two different amounts for account {acct.pk} at {as_of:%Y-%m-%dT%H:%M:%SZ}"
                    f" ({clean[key][1] or 'earlier'} and this one).",
                    field=_err_field(r.label, "amount"),
                )
            duplicates += 1
            continue
        clean[key] = (amount, r.label)
    account_ids = sorted({k[0] for k in clean})
    with transaction.atomic():
        # Lock the accounts (parents, in key order) so a concurrent import of the same account
        # and time cannot slip in between the check below and the insert.
        locked = {
            a.pk: a
            for a in TreasuryAccount.objects.select_for_update(of=("self",))
            .filter(pk__in=account_ids)
            .order_by("pk")
        }
        for pk in account_ids:
            if pk not in locked or not locked[pk].is_active:
                raise Conflict(f"Account {pk} was deactivated meanwhile; nothing was stored.")
        existing = {
            (s.account_id, s.as_of): s.amount
            for s in BalanceSnapshot.objects.filter(
                account_id__in=account_ids, as_of__in={k[1] for k in clean}
            ).only("account_id", "as_of", "amount")
        }
        new = []
        for key, (amount, label) in clean.items():
            if key in existing:
                if existing[key] != amount:
                    raise InvalidInput(
                        f"Account {key[0]} already has {existing[key].normalize():f} at "
                        f"{key[1]:%Y-%m-%dT%H:%M:%SZ}; snapshots are never changed.",
                        field=_err_field(label, "amount"),
                    )
                duplicates += 1
                continue
            new.append(
                BalanceSnapshot(
                    account_id=key[0],
                    amount=amount,
                    as_of=key[1],
                    source=source,
                    created_by=actor,
                    received_at=now,
                )
            )
        BalanceSnapshot.objects.bulk_create(new, batch_size=2000)
    return {"stored": len(new), "duplicates": duplicates}


def balance_record(
    *,
    actor,
    account: TreasuryAccount,
    amount: Decimal,
    as_of: datetime,
    now: datetime,
    source: str = "api",
) -> BalanceSnapshot:
    """Record one balance of an account as of a time; the same snapshot twice stores it once."""
    balances_record(
        actor=actor, rows=[BalanceInput(account, amount, as_of)], now=now, source=source
    )
    return BalanceSnapshot.objects.select_related(
        "account__asset", "account__venue", "created_by"
    ).get(account=account, as_of=as_of.astimezone(UTC))
