"""Treasury fixtures: two assets, three venues, a treasury user and an account maker."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pandas  # noqa: F401  (imported before freezegun patches the clock: it crashes under it)
import pytest
from freezegun import freeze_time

from tests.factories import AssetFactory, UserFactory, VenueFactory
from treasury import services

NOW = datetime(2026, 11, 21, 9, 30, tzinfo=UTC)
D = Decimal


@pytest.fixture(autouse=True)
def frozen():
    with freeze_time(NOW):
        yield


@pytest.fixture
def now():
    return NOW


@pytest.fixture
def treasurer(db):
    return UserFactory(role="treasury", username="t-treasury")


@pytest.fixture
def btc(db):
    return AssetFactory(symbol="BTC", name="Bitcoin", decimals=8)


@pytest.fixture
def usdc(db):
    return AssetFactory(symbol="USDC", name="USD Coin", decimals=6)


@pytest.fixture
def cust(db):
    return VenueFactory(code="CUST1", kind="custodian")


@pytest.fixture
def cust2(db):
    return VenueFactory(code="CUST2", kind="custodian")


@pytest.fixture
def exch(db):
    return VenueFactory(code="EXCH1", kind="exchange")


@pytest.fixture
def account(treasurer, now):
    def make(venue, asset, purpose="lendable", **kw):
        return services.treasury_account_create(
            actor=treasurer, venue=venue, asset=asset, purpose=purpose, now=now, **kw
        )

    return make


@pytest.fixture
def balance(treasurer, now):
    def record(acct, amount, as_of=None):
        return services.balance_record(
            actor=treasurer, account=acct, amount=D(amount), as_of=as_of or now, now=now
        )

    return record
