"""Collateral fixtures: a lend loan on the book with prices, haircuts and collateral."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.test import override_settings

from collateral import services
from collateral.engine import Scope, revalue
from collateral.models import LoanValuation, RevaluationRun
from financing.approvals.services import approval_approve
from loans import services as loan_services
from tests.conftest import NOW
from tests.factories import AssetFactory, UserFactory, VenueFactory

D = Decimal


@pytest.fixture(autouse=True)
def _no_debounced_tasks():
    with override_settings(REVALUE_ON_PRICES=False):
        yield


@pytest.fixture
def ops(db):
    return UserFactory(role="ops", username="c-ops")


@pytest.fixture
def risk(db):
    return UserFactory(role="risk", username="c-risk")


@pytest.fixture
def eth(db):
    return AssetFactory(symbol="ETH", name="Ether", decimals=18)


@pytest.fixture
def venue(db):
    return VenueFactory(code="CUST1", kind="custodian")


@pytest.fixture
def venue2(db):
    return VenueFactory(code="EXCH1", kind="exchange")


@pytest.fixture
def price(db):
    """price(asset, "97000", at=NOW, source="test") stores a feed price."""

    def make(asset, value, at=NOW, source="test"):
        services.prices_record(
            rows=[services.PriceInput(asset, D(value), at, source)], now=max(at, NOW)
        )

    return make


@pytest.fixture
def book(ops, risk, btc, cp):
    """book(**terms) -> an active loan, started today so no interest has accrued yet."""

    def make(**terms):
        values = {
            "counterparty": cp,
            "direction": "lend",
            "asset": btc,
            "principal": D("10"),
            "rate": D("0.05"),
            "day_count": "ACT/365F",
            "term": "open",
            "start_date": NOW.date(),
        }
        values.update(terms)
        loan = loan_services.loan_book(actor=ops, now=NOW, **values)
        approval_approve(approval_id=loan.approval_id, checker=risk, now=NOW)
        loan.refresh_from_db()
        return loan

    return make


@pytest.fixture
def top_up(ops, venue):
    def make(loan, asset, quantity, at=NOW, venue_=None):
        return services.collateral_top_up(
            actor=ops, loan=loan, asset=asset, venue=venue_ or venue, quantity=D(quantity), now=at
        )

    return make


@pytest.fixture
def value(db):
    """value(loan, at=NOW) -> the loan's valuation from a fresh run on that loan."""

    def make(loan, at=NOW):
        revalue(now=at, scope=Scope(kind=RevaluationRun.Scope.LOANS, loan_ids=(loan.pk,)))
        return LoanValuation.objects.filter(loan=loan).order_by("-valued_at", "-id").first()

    return make
