"""Loan-book fixtures: book through the services and approve as another user."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from financing.approvals.services import approval_approve
from loans import services
from loans.models import Loan
from tests.factories import AssetFactory, CounterpartyFactory, UserFactory

NOW = datetime(2026, 11, 21, 9, 30, tzinfo=UTC)


@pytest.fixture
def now():
    return NOW


@pytest.fixture
def maker(db):
    return UserFactory(role="ops", username="maker-ops")


@pytest.fixture
def checker(db):
    return UserFactory(role="risk", username="checker-risk")


@pytest.fixture
def btc(db):
    return AssetFactory(symbol="BTC", name="Bitcoin", decimals=8)


@pytest.fixture
def usdc(db):
    return AssetFactory(symbol="USDC", name="USD Coin", decimals=6, is_stablecoin=True)


@pytest.fixture
def cp(db):
    return CounterpartyFactory(code="ACME", kyc_expires_on=date(2030, 1, 1))


@pytest.fixture
def book(maker, checker, btc, cp):
    """book(**terms) -> an active loan (booked by `maker`, approved by `checker`)."""

    def make(approve: bool = True, now: datetime = NOW, **terms) -> Loan:
        values = {
            "counterparty": cp,
            "direction": "lend",
            "asset": btc,
            "principal": Decimal("10"),
            "rate": Decimal("0.05"),
            "day_count": "ACT/365F",
            "term": "open",
            "start_date": date(2026, 11, 1),
        }
        values.update(terms)
        loan = services.loan_book(actor=maker, now=now, **values)
        if approve:
            approval_approve(approval_id=loan.approval_id, checker=checker, now=now)
            loan.refresh_from_db()
        return loan

    return make
