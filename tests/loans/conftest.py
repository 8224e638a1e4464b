"""Loan-book fixtures: book through the services and approve as another user."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import pytest

from financing.approvals.services import approval_approve
from loans import services
from loans.models import Loan
from tests.conftest import NOW
from tests.factories import UserFactory


@pytest.fixture
def maker(db):
    return UserFactory(role="ops", username="maker-ops")


@pytest.fixture
def checker(db):
    return UserFactory(role="risk", username="checker-risk")


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
