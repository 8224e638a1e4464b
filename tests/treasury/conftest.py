"""Treasury fixtures: three venues, a treasury user, an account maker and a balance recorder;
every treasury test runs with the clock frozen at NOW."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.factories import UserFactory, VenueFactory
from treasury import services

D = Decimal


@pytest.fixture(autouse=True)
def _clock_at_now(frozen):
    """The shared `frozen` fixture, for every test of this directory."""


@pytest.fixture
def treasurer(db):
    return UserFactory(role="treasury", username="t-treasury")


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
