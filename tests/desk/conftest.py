"""Borrow-desk fixtures: a trading desk, lendable BTC in treasury, a client counterparty."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest

from tests.conftest import NOW
from tests.factories import CounterpartyFactory, DeskFactory, UserFactory, VenueFactory
from treasury.models import BalanceSnapshot, BufferLevel, TreasuryAccount

D = Decimal


@pytest.fixture
def desk_a(db):
    return DeskFactory(code="DELTA1", risk_profile="medium")


@pytest.fixture
def desk_b(db):
    return DeskFactory(code="BASIS", risk_profile="low")


@pytest.fixture
def trader(desk_a):
    return UserFactory(username="trader-a", role="trading", desk=desk_a)


@pytest.fixture
def trader_b(desk_b):
    return UserFactory(username="trader-b", role="trading", desk=desk_b)


@pytest.fixture
def ops(db):
    return UserFactory(username="desk-ops", role="ops")


@pytest.fixture
def risk(db):
    return UserFactory(username="desk-risk", role="risk")


@pytest.fixture
def client_cp(db):
    return CounterpartyFactory(code="CLIENT1", kyc_expires_on=date(2030, 1, 1))


@pytest.fixture
def stock(db, btc, ops):
    """stock(lendable, buffer=0): lendable BTC in treasury at one venue."""

    def make(lendable, buffer="0"):
        venue = VenueFactory(code="CUSTX", kind="custodian")
        account, _ = TreasuryAccount.objects.get_or_create(
            venue=venue,
            asset=btc,
            purpose="lendable",
            defaults={"created_by": ops, "created_at": NOW},
        )
        BalanceSnapshot.objects.create(
            account=account, amount=D(lendable), as_of=NOW - timedelta(minutes=1), received_at=NOW
        )
        if D(buffer):
            BufferLevel.objects.create(asset=btc, minimum=D(buffer), updated_by=ops, updated_at=NOW)
        return account

    return make


@pytest.fixture
def submit(trader, btc):
    from loans.desk import services

    def make(quantity="10", user=None, **kw):
        values = {
            "asset": btc,
            "quantity": D(quantity),
            "max_rate": D("0.08"),
            "needed_by": NOW + timedelta(hours=30),
            "urgency": "normal",
            "expected_revenue_usd": D("50000"),
            "purpose": "short a basis trade",
        }
        values.update(kw)
        return services.borrow_request_submit(actor=user or trader, now=NOW, **values)

    return make
