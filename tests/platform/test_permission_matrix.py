"""Every API endpoint x every role, plus anonymous. The expected answer comes from the one
permission matrix (financing.accounts.roles.MATRIX): a role holding the capability succeeds, a
role lacking it gets 403 and nothing is written, anonymous gets 401."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from financing import clock
from financing.accounts.roles import CHECKER_ROLES, MATRIX, Role
from financing.approvals.models import ApprovalRequest
from financing.refdata.models import Asset, Counterparty, Desk, Venue
from tests.platform.conftest import TEST_ACTION, applied_count

ANONYMOUS = "anonymous"
ROLES = list(Role.values)


@dataclass(frozen=True)
class Endpoint:
    id: str
    method: str
    path: str
    capability: str | None  # None: any authenticated user
    success: int
    body: dict[str, Any] | None = None
    writes: bool = False


ENDPOINTS = [
    # reference data
    Endpoint("assets-list", "get", "/api/assets/", "refdata.view", 200),
    Endpoint(
        "assets-create",
        "post",
        "/api/assets/",
        "refdata.manage",
        201,
        {"symbol": "NEWC", "name": "New coin", "decimals": 6},
        writes=True,
    ),
    Endpoint("assets-detail", "get", "/api/assets/BTC/", "refdata.view", 200),
    Endpoint(
        "assets-update",
        "patch",
        "/api/assets/BTC/",
        "refdata.manage",
        200,
        {"name": "Bitcoin (renamed)"},
        writes=True,
    ),
    Endpoint("assets-history", "get", "/api/assets/BTC/history/", "refdata.view", 200),
    Endpoint("venues-list", "get", "/api/venues/", "refdata.view", 200),
    Endpoint(
        "venues-create",
        "post",
        "/api/venues/",
        "refdata.manage",
        201,
        {"code": "NEWV", "name": "New venue", "kind": "bank"},
        writes=True,
    ),
    Endpoint("venues-detail", "get", "/api/venues/CUST1/", "refdata.view", 200),
    Endpoint(
        "venues-update",
        "patch",
        "/api/venues/CUST1/",
        "refdata.manage",
        200,
        {"status": "suspended"},
        writes=True,
    ),
    Endpoint("venues-history", "get", "/api/venues/CUST1/history/", "refdata.view", 200),
    Endpoint("desks-list", "get", "/api/desks/", "refdata.view", 200),
    Endpoint(
        "desks-create",
        "post",
        "/api/desks/",
        "refdata.manage",
        201,
        {"code": "NEWD", "name": "New desk"},
        writes=True,
    ),
    Endpoint("desks-detail", "get", "/api/desks/DESK1/", "refdata.view", 200),
    Endpoint(
        "desks-update",
        "patch",
        "/api/desks/DESK1/",
        "refdata.manage",
        200,
        {"risk_profile": "high"},
        writes=True,
    ),
    Endpoint("desks-history", "get", "/api/desks/DESK1/history/", "refdata.view", 200),
    Endpoint("counterparties-list", "get", "/api/counterparties/", "refdata.view", 200),
    Endpoint(
        "counterparties-create",
        "post",
        "/api/counterparties/",
        "counterparty.manage",
        201,
        {
            "code": "NEWCP",
            "name": "New Counterparty Ltd",
            "kind": "fund",
            "jurisdiction": "GB",
            "risk_rating": "low",
        },
        writes=True,
    ),
    Endpoint("counterparties-detail", "get", "/api/counterparties/CP1/", "refdata.view", 200),
    Endpoint(
        "counterparties-update",
        "patch",
        "/api/counterparties/CP1/",
        "counterparty.manage",
        200,
        {"risk_rating": "high"},
        writes=True,
    ),
    Endpoint(
        "counterparties-history", "get", "/api/counterparties/CP1/history/", "refdata.view", 200
    ),
    Endpoint(
        "counterparties-kyc",
        "post",
        "/api/counterparties/CP1/kyc/",
        "counterparty.kyc",
        202,
        {"kyc_status": "restricted", "reason": "adverse media"},
        writes=True,
    ),
    # approvals
    Endpoint("approvals-list", "get", "/api/approvals/", "approvals.view", 200),
    Endpoint("approvals-detail", "get", "/api/approvals/{approval}/", "approvals.view", 200),
    Endpoint(
        "approvals-approve",
        "post",
        "/api/approvals/{approval}/approve/",
        "approvals.decide",
        200,
        {"reason": "checked"},
        writes=True,
    ),
    Endpoint(
        "approvals-reject",
        "post",
        "/api/approvals/{approval}/reject/",
        "approvals.decide",
        200,
        {"reason": "no"},
        writes=True,
    ),
    Endpoint(
        "approvals-cancel",
        "post",
        "/api/approvals/{own_approval}/cancel/",
        "approvals.view",
        200,
        {},
        writes=True,
    ),
    # audit
    Endpoint("audit-activity", "get", "/api/audit/activity/", "audit.view", 200),
    Endpoint("audit-auth-events", "get", "/api/audit/auth-events/", "audit.auth_events", 200),
    # jobs
    Endpoint("jobs-list", "get", "/api/jobs/", "jobs.view", 200),
    Endpoint("jobs-overview", "get", "/api/jobs/overview/", "jobs.view", 200),
    Endpoint("jobs-run", "post", "/api/jobs/expire_kyc/run/", "jobs.run", 202, {}),
    # the caller and the contract
    Endpoint("me", "get", "/api/me/", None, 200),
    Endpoint("schema", "get", "/api/schema/?format=json", None, 200),
]

CASES = [
    pytest.param(endpoint, role, id=f"{endpoint.id}-{role}")
    for endpoint in ENDPOINTS
    for role in [*ROLES, ANONYMOUS]
]


def allowed(endpoint: Endpoint, role: str) -> bool:
    if role == ANONYMOUS:
        return False
    return endpoint.capability is None or role in MATRIX[endpoint.capability]


def _approval(maker) -> ApprovalRequest:
    return ApprovalRequest.objects.create(
        action=TEST_ACTION,
        maker=maker,
        payload={"what": "matrix"},
        approver_roles=sorted(CHECKER_ROLES),
        created_at=clock.now(),
    )


def _snapshot() -> dict[str, Any]:
    """The fields a write under test would change, beside the row counts."""
    return {
        "asset": list(Asset.objects.values_list("symbol", "name", "decimals")),
        "venue": list(Venue.objects.values_list("code", "status")),
        "desk": list(Desk.objects.values_list("code", "risk_profile")),
        "counterparty": list(Counterparty.objects.values_list("code", "risk_rating", "kyc_status")),
        "approvals": list(ApprovalRequest.objects.values_list("pk", "status").order_by("pk")),
    }


@pytest.mark.parametrize(("endpoint", "role"), CASES)
def test_endpoint_answers_by_the_permission_matrix(
    endpoint,
    role,
    api,
    make_user,
    book,
    effect_action,
    counts,
    django_capture_on_commit_callbacks,
):
    maker = make_user(Role.COMPLIANCE, username="the-maker")
    user = None if role == ANONYMOUS else make_user(role, username=f"acting-{role}")
    others = _approval(maker)
    own = _approval(user or maker)
    path = endpoint.path.format(approval=others.pk, own_approval=own.pk)
    client = api(user)
    rows_before, data_before = counts(), _snapshot()
    applied_before = applied_count()

    with django_capture_on_commit_callbacks(execute=False) as queued:
        call = getattr(client, endpoint.method)
        resp = call(path) if endpoint.body is None else call(path, endpoint.body, format="json")

    if allowed(endpoint, role):
        assert resp.status_code == endpoint.success, resp.content[:500]
        if endpoint.writes:
            assert counts() != rows_before or _snapshot() != data_before
        else:
            assert counts() == rows_before
        if endpoint.id == "approvals-approve":
            assert applied_count() == applied_before + 1
        if endpoint.id == "jobs-run":
            assert len(queued) == 1  # the job goes to the broker once the request commits
        return

    expected = 401 if role == ANONYMOUS else 403
    assert resp.status_code == expected, resp.content[:500]
    assert "detail" in resp.json()
    assert counts() == rows_before
    assert _snapshot() == data_before
    assert applied_count() == applied_before
    assert queued == []


def _kyc_change(maker, counterparty) -> ApprovalRequest:
    """A KYC change: only compliance may decide it, whatever else approvals.decide allows."""
    return ApprovalRequest.objects.create(
        action="counterparty.kyc_change",
        maker=maker,
        target_id=str(counterparty.pk),
        payload={"kyc_status": "restricted", "kyc_expires_on": None},
        approver_roles=["compliance"],
        created_at=clock.now(),
    )


@pytest.mark.parametrize("role", ROLES)
def test_reject_answers_by_the_requests_approver_roles_too(
    role, api, make_user, book, counts, django_capture_on_commit_callbacks
):
    approval = _kyc_change(make_user(Role.COMPLIANCE, username="the-maker"), book["counterparty"])
    client = api(make_user(role, username=f"acting-{role}"))
    before = counts()
    with django_capture_on_commit_callbacks(execute=False):
        resp = client.post(f"/api/approvals/{approval.pk}/reject/", {"reason": "no"}, format="json")
    if role in MATRIX["approvals.decide"] and role in ["compliance"]:
        assert resp.status_code in (200, 201, 202), (resp.status_code, resp.content)
    else:
        assert resp.status_code == 403, (resp.status_code, resp.content)
        assert counts() == before


def test_matrix_covers_every_capability_the_api_declares():
    """The table above names exactly the capabilities the API's views declare."""
    from financing.approvals.api_urls import router as approvals
    from financing.audit.api_urls import router as audit
    from financing.jobs.api_urls import router as jobs
    from financing.refdata.api_urls import router as refdata

    declared = {
        cap
        for router in (refdata, approvals, audit, jobs)
        for _prefix, viewset, _basename in router.registry
        for cap in getattr(viewset, "capabilities", {}).values()
    }
    tested = {e.capability for e in ENDPOINTS if e.capability}
    assert declared <= set(MATRIX)
    assert declared == tested


OPTIONS_PATHS = sorted({e.path for e in ENDPOINTS if "{" not in e.path and "?" not in e.path})


@pytest.mark.parametrize("path", OPTIONS_PATHS)
@pytest.mark.parametrize("role", [*ROLES, ANONYMOUS])
def test_options_is_open_to_every_signed_in_role_and_writes_nothing(
    path, role, api, make_user, book, counts
):
    user = None if role == ANONYMOUS else make_user(role, username=f"options-{role}")
    before = counts()

    resp = api(user).options(path)

    assert resp.status_code == (401 if role == ANONYMOUS else 200), resp.content[:300]
    assert counts() == before


def test_options_describes_only_the_writes_the_role_may_make(api, make_user, book):
    ops = api(make_user(Role.OPS)).options("/api/assets/").json()
    auditor = api(make_user(Role.AUDITOR)).options("/api/assets/").json()

    assert "POST" in ops.get("actions", {})
    assert "actions" not in auditor
