"""Fixtures of the platform suite: a small reference book, counted tables, test actions/jobs."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from financing import clock
from financing.accounts.roles import CHECKER_ROLES, Role
from financing.api.models import IdempotencyKey
from financing.approvals import registry as approval_registry
from financing.approvals.models import ApprovalDecision, ApprovalPolicy, ApprovalRequest
from financing.audit.models import ActivityEntry
from financing.jobs import registry as job_registry
from financing.jobs.models import JobRun
from financing.refdata.models import Asset, Counterparty, Desk, Venue
from tests.factories import AssetFactory, CounterpartyFactory, DeskFactory, VenueFactory

#: The action the tests register: its effect is a JobRun row named APPLIED_MARKER, so the
#: number of times it ran is a row count.
TEST_ACTION = "test.platform_effect"
TIERED_ACTION = "test.platform_tiered"
APPLIED_MARKER = "test-approval-applied"

COUNTED_MODELS = [
    Asset,
    Asset.history.model,
    Venue,
    Venue.history.model,
    Desk,
    Desk.history.model,
    Counterparty,
    Counterparty.history.model,
    ApprovalRequest,
    ApprovalRequest.history.model,
    ApprovalDecision,
    ApprovalPolicy,
    ActivityEntry,
    JobRun,
    IdempotencyKey,
]


def table_counts() -> dict[str, int]:
    """Row counts of every table a platform write can touch (AuthEvent excluded: reading with
    a token records a token_used event by design)."""
    return {m._meta.label: m.objects.count() for m in COUNTED_MODELS}


@pytest.fixture
def counts():
    return table_counts


@pytest.fixture
def book(db):
    """BTC, venue CUST1, desk DESK1 and counterparty CP1 (KYC approved for a year)."""
    return {
        "asset": AssetFactory(symbol="BTC", name="Bitcoin", decimals=8),
        "venue": VenueFactory(code="CUST1", name="Custodian one", kind="custodian"),
        "desk": DeskFactory(code="DESK1", name="Desk one"),
        "counterparty": CounterpartyFactory(
            code="CP1",
            name="Counterparty One Ltd",
            kyc_status="approved",
            kyc_expires_on=clock.business_date() + timedelta(days=365),
        ),
    }


def _apply_effect(*, request, checker, now):
    now = clock.now()
    JobRun.objects.create(
        job=APPLIED_MARKER,
        status=JobRun.Status.SUCCEEDED,
        started_at=now,
        finished_at=now,
        counts={"approval": request.pk, "checker": checker.username},
    )
    return {"applied": True}


def applied_count() -> int:
    return JobRun.objects.filter(job=APPLIED_MARKER).count()


@pytest.fixture
def effect_action():
    """A 1-approver action any checker role may approve; its effect writes one marker row."""
    action = approval_registry.register(
        approval_registry.ApprovalAction(
            name=TEST_ACTION,
            description="platform test effect",
            default_roles=tuple(sorted(CHECKER_ROLES)),
            apply=_apply_effect,
        )
    )
    yield action
    approval_registry.unregister(action.name)


@pytest.fixture
def tiered_action():
    """USD tiers: one approver below 1,000,000 USD, two from it (ops or risk)."""
    action = approval_registry.register(
        approval_registry.ApprovalAction(
            name=TIERED_ACTION,
            description="platform test tiers",
            default_roles=(Role.OPS, Role.RISK),
            apply=_apply_effect,
            default_tiers=((Decimal("0"), 1), (Decimal("1000000"), 2)),
        )
    )
    yield action
    approval_registry.unregister(action.name)


@pytest.fixture
def failing_job():
    def run(*, now):
        raise ValueError("the ledger is on fire")

    job = job_registry.register(
        job_registry.Job(name="test_failing_job", description="always fails", run=run)
    )
    yield job
    job_registry.unregister(job.name)
