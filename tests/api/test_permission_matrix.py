"""Every API endpoint x every role: allowed roles succeed, others get 403 and nothing is
written, anonymous gets 401. Expectations come from the one permission matrix."""

from __future__ import annotations

import pytest

from financing.accounts.roles import MATRIX, Role
from financing.approvals.models import ApprovalRequest
from financing.audit.models import ActivityEntry
from financing.jobs.models import JobRun
from tests.factories import (
    AssetFactory,
    CounterpartyFactory,
    DeskFactory,
    UserFactory,
    VenueFactory,
)

ROLES = list(Role.values)


def _setup():
    AssetFactory(symbol="BTC", decimals=8)
    VenueFactory(code="CUST1")
    DeskFactory(code="DESK1")
    cp = CounterpartyFactory(code="CP1")
    maker = UserFactory(username="maker-x", role="compliance")
    approval = ApprovalRequest.objects.create(
        action="counterparty.kyc_change",
        maker=maker,
        target_id=str(cp.pk),
        payload={"kyc_status": "restricted", "kyc_expires_on": None},
        approver_roles=["compliance"],
        created_at="2026-11-20T10:00:00Z",
    )
    return approval


# (id, method, path, body, capability); {approval} is filled in.
ENDPOINTS = [
    ("assets-list", "get", "/api/assets/", None, "refdata.view"),
    (
        "assets-create",
        "post",
        "/api/assets/",
        {"symbol": "NEW1", "name": "N", "decimals": 6},
        "refdata.manage",
    ),
    ("assets-detail", "get", "/api/assets/BTC/", None, "refdata.view"),
    ("assets-update", "patch", "/api/assets/BTC/", {"name": "Bitcoin 2"}, "refdata.manage"),
    ("assets-history", "get", "/api/assets/BTC/history/", None, "refdata.view"),
    ("venues-list", "get", "/api/venues/", None, "refdata.view"),
    (
        "venues-create",
        "post",
        "/api/venues/",
        {"code": "V2", "name": "V", "kind": "bank"},
        "refdata.manage",
    ),
    ("venues-update", "patch", "/api/venues/CUST1/", {"status": "suspended"}, "refdata.manage"),
    ("venues-history", "get", "/api/venues/CUST1/history/", None, "refdata.view"),
    ("desks-list", "get", "/api/desks/", None, "refdata.view"),
    ("desks-create", "post", "/api/desks/", {"code": "D2", "name": "D"}, "refdata.manage"),
    ("desks-update", "patch", "/api/desks/DESK1/", {"name": "Desk one"}, "refdata.manage"),
    ("counterparties-list", "get", "/api/counterparties/", None, "refdata.view"),
    (
        "counterparties-create",
        "post",
        "/api/counterparties/",
        {"code": "CP2", "name": "C", "kind": "fund", "jurisdiction": "GB", "risk_rating": "low"},
        "counterparty.manage",
    ),
    ("counterparties-detail", "get", "/api/counterparties/CP1/", None, "refdata.view"),
    (
        "counterparties-update",
        "patch",
        "/api/counterparties/CP1/",
        {"risk_rating": "high"},
        "counterparty.manage",
    ),
    (
        "counterparties-kyc",
        "post",
        "/api/counterparties/CP1/kyc/",
        {"kyc_status": "restricted", "reason": "adverse media"},
        "counterparty.kyc",
    ),
    ("counterparties-history", "get", "/api/counterparties/CP1/history/", None, "refdata.view"),
    ("approvals-list", "get", "/api/approvals/", None, "approvals.view"),
    ("approvals-detail", "get", "/api/approvals/{approval}/", None, "approvals.view"),
    (
        "approvals-reject",
        "post",
        "/api/approvals/{approval}/reject/",
        {"reason": "no"},
        "approvals.decide",
    ),
    ("activity", "get", "/api/audit/activity/", None, "audit.view"),
    ("auth-events", "get", "/api/audit/auth-events/", None, "audit.auth_events"),
    ("jobs-runs", "get", "/api/jobs/", None, "jobs.view"),
    ("jobs-overview", "get", "/api/jobs/overview/", None, "jobs.view"),
    ("jobs-run", "post", "/api/jobs/expire_kyc/run/", None, "jobs.run"),
    ("me", "get", "/api/me/", None, "dashboard.view"),
    ("schema", "get", "/api/schema/", None, "dashboard.view"),
]


def _state():
    return (ActivityEntry.objects.count(), ApprovalRequest.objects.count(), JobRun.objects.count())


@pytest.mark.django_db
@pytest.mark.parametrize("role", [*ROLES, "anonymous"])
@pytest.mark.parametrize(
    ("name", "method", "path", "body", "capability"), ENDPOINTS, ids=[e[0] for e in ENDPOINTS]
)
def test_endpoint_answers_by_role(
    api, role, name, method, path, body, capability, django_capture_on_commit_callbacks
):
    approval = _setup()
    path = path.format(approval=approval.pk)
    user = None if role == "anonymous" else UserFactory(role=role)
    client = api(user)
    before = _state()
    with django_capture_on_commit_callbacks(execute=False):
        resp = getattr(client, method)(path, body, format="json")
    if role == "anonymous":
        assert resp.status_code == 401, resp.content
        assert _state() == before
    elif role in MATRIX[capability] and not (
        name == "approvals-reject" and role not in ["compliance"]
    ):
        assert resp.status_code in (200, 201, 202), (resp.status_code, resp.content)
    else:
        assert resp.status_code == 403, (resp.status_code, resp.content)
        assert _state() == before
