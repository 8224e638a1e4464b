"""Demo borrow-desk requests (seed_demo, idempotent): two months of request history for the
forecast, and today's queue: a critical request waiting, one partly allocated, one booked."""

from __future__ import annotations

import random
from datetime import timedelta
from decimal import Decimal

from devtools.demo.registry import Seeder, register_seeder
from financing import clock
from financing.errors import DomainError

# symbol, typical daily demand, decimals shown
HISTORY = [("BTC", 12, 2), ("ETH", 180, 1), ("USDC", 900000, 0), ("SOL", 4000, 0)]


def seed_desk(*, now=None) -> str:
    from financing.accounts.models import User
    from financing.refdata.models import Asset, Counterparty
    from loans.desk import services as desk
    from loans.desk.models import BorrowRequest

    if BorrowRequest.objects.exists():
        return "borrow requests already seeded"
    now = now or clock.now()
    trader = User.objects.get(username="trader")
    ops = User.objects.get(username="ops")
    assets = {a.symbol: a for a in Asset.objects.all()}
    rnd = random.Random(7)  # noqa: S311 - a reproducible demo history, not a secret
    history = []
    for days_ago in range(60, 0, -1):
        day = now - timedelta(days=days_ago)
        for symbol, typical, places in HISTORY:
            if symbol not in assets or (day.weekday() >= 5 and rnd.random() < 0.7):
                continue
            qty = Decimal(str(round(typical * rnd.uniform(0.4, 1.6), places)))
            if qty <= 0:
                continue
            at = day.replace(hour=rnd.randint(7, 18), minute=rnd.randint(0, 59))
            status = rnd.choice(["booked", "booked", "expired", "rejected", "cancelled"])
            history.append(
                BorrowRequest(
                    desk=trader.desk,
                    requested_by=trader,
                    asset=assets[symbol],
                    quantity=qty,
                    max_rate=Decimal("0.09"),
                    needed_by=at + timedelta(hours=8),
                    urgency=rnd.choice(["low", "normal", "high"]),
                    expected_revenue_usd=Decimal(rnd.randint(1000, 90000)),
                    purpose="desk flow (history)",
                    priority=Decimal("30"),
                    sla_due_at=at + timedelta(minutes=15),
                    first_response_at=at + timedelta(minutes=rnd.randint(2, 30)),
                    status=status,
                    # Booked history was filled in full (its loans are not part of the demo).
                    allocated_quantity=qty if status == "booked" else Decimal(0),
                    created_at=at,
                    updated_at=at,
                )
            )
    BorrowRequest.objects.bulk_create(history)
    client = Counterparty.objects.get(code="WINTERMUTE")
    waiting = desk.borrow_request_submit(
        actor=trader,
        asset=assets["BTC"],
        quantity=Decimal("35"),
        max_rate=Decimal("0.07"),
        needed_by=now + timedelta(hours=3),
        urgency="critical",
        expected_revenue_usd=Decimal("180000"),
        purpose="cover a client short into the close",
        now=now,
        counterparty=client,
    )
    partial = desk.borrow_request_submit(
        actor=trader,
        asset=assets["ETH"],
        quantity=Decimal("900"),
        max_rate=Decimal("0.05"),
        needed_by=now + timedelta(days=1),
        urgency="normal",
        expected_revenue_usd=Decimal("40000"),
        purpose="basis trade",
        now=now,
        tenor_days=30,
        counterparty=client,
    )
    made = 2
    note = ""
    try:
        desk.borrow_request_allocate(actor=ops, request=partial, now=now, quantity=Decimal("600"))
        booked = desk.borrow_request_submit(
            actor=trader,
            asset=assets["USDC"],
            quantity=Decimal("2500000"),
            max_rate=Decimal("0.11"),
            needed_by=now + timedelta(days=2),
            urgency="high",
            expected_revenue_usd=Decimal("65000"),
            purpose="funding a market-making book",
            now=now,
            tenor_days=14,
            counterparty=client,
        )
        desk.borrow_request_allocate(actor=ops, request=booked, now=now)
        desk.borrow_request_book(actor=ops, request=booked, now=now, rate=Decimal("0.095"))
        made += 1
    except DomainError as exc:  # e.g. no treasury inventory: the queue stays as it is
        note = f" (allocation skipped: {exc.message})"
    del waiting
    return f"{len(history)} historical and {made} open borrow requests{note}"


register_seeder(Seeder("borrow_desk", 60, seed_desk))
