from __future__ import annotations

import threading
from decimal import Decimal

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from financing.approvals import registry
from financing.approvals.models import ApprovalDecision, ApprovalRequest
from financing.approvals.services import (
    approval_approve,
    approval_cancel,
    approval_policy_update,
    approval_reject,
    approval_request_create,
)
from financing.errors import Conflict, Forbidden, NotFound
from financing.refdata.models import Counterparty, Desk
from financing.refdata.services import counterparty_kyc_change_request
from tests.factories import CounterpartyFactory, UserFactory

NOW = timezone.now


def _kyc_request(maker, cp, status="restricted"):
    return counterparty_kyc_change_request(
        actor=maker,
        counterparty=cp,
        kyc_status=status,
        kyc_expires_on=None,
        now=NOW(),
        reason="adverse media",
    )


@pytest.fixture
def desk_action():
    """A test action with USD tiers: 1 approver below 1m, 2 from 1m. Its effect creates a desk."""

    def apply(*, request, checker, now):
        Desk.objects.create(code=request.payload["code"], name="made by approval")
        return {"desk": request.payload["code"]}

    action = registry.register(
        registry.ApprovalAction(
            name="test.make_desk",
            description="test",
            default_roles=("ops", "risk"),
            apply=apply,
            default_tiers=((Decimal("0"), 1), (Decimal("1000000"), 2)),
        )
    )
    yield action
    registry.unregister(action.name)


@pytest.mark.django_db
def test_kyc_change_waits_for_a_checker_and_applies_on_approval():
    maker, checker = UserFactory(role="compliance"), UserFactory(role="compliance")
    cp = CounterpartyFactory(code="CP1")
    req = _kyc_request(maker, cp)
    assert Counterparty.objects.get(pk=cp.pk).kyc_status == "approved"
    approval_approve(approval_id=req.pk, checker=checker, now=NOW(), reason="checked")
    cp.refresh_from_db()
    assert cp.kyc_status == "restricted"
    assert cp.history.first().history_user == checker


@pytest.mark.django_db
def test_maker_cannot_approve_own_request_and_nothing_changes():
    maker = UserFactory(role="compliance")
    cp = CounterpartyFactory(code="CP1")
    req = _kyc_request(maker, cp)
    with pytest.raises(Forbidden):
        approval_approve(approval_id=req.pk, checker=maker, now=NOW())
    req.refresh_from_db()
    assert req.status == "pending" and req.decisions.count() == 0
    assert Counterparty.objects.get(pk=cp.pk).kyc_status == "approved"


@pytest.mark.django_db
@pytest.mark.parametrize("role", ["trading", "auditor", "ops", "risk"])
def test_roles_outside_the_policy_cannot_approve(role):
    req = _kyc_request(UserFactory(role="compliance"), CounterpartyFactory(code="CP1"))
    with pytest.raises(Forbidden):
        approval_approve(approval_id=req.pk, checker=UserFactory(role=role), now=NOW())
    assert ApprovalRequest.objects.get(pk=req.pk).status == "pending"


@pytest.mark.django_db
def test_approving_twice_is_a_conflict_and_applies_once():
    maker, c1, c2 = (UserFactory(role="compliance") for _ in range(3))
    cp = CounterpartyFactory(code="CP1")
    req = _kyc_request(maker, cp)
    approval_approve(approval_id=req.pk, checker=c1, now=NOW())
    versions = cp.history.count()
    with pytest.raises(Conflict):
        approval_approve(approval_id=req.pk, checker=c2, now=NOW())
    assert cp.history.count() == versions


@pytest.mark.django_db
def test_reject_leaves_the_record_unchanged_and_cancel_is_for_the_maker_only():
    maker, checker = UserFactory(role="compliance"), UserFactory(role="compliance")
    cp = CounterpartyFactory(code="CP1")
    req = approval_reject(
        approval_id=_kyc_request(maker, cp).pk,
        checker=checker,
        now=NOW(),
        reason="insufficient evidence",
    )
    assert req.status == "rejected"
    assert Counterparty.objects.get(pk=cp.pk).kyc_status == "approved"
    req2 = _kyc_request(maker, cp, status="pending")
    with pytest.raises(Forbidden):
        approval_cancel(approval_id=req2.pk, user=checker, now=NOW())
    assert approval_cancel(approval_id=req2.pk, user=maker, now=NOW()).status == "cancelled"
    with pytest.raises(Conflict):
        approval_approve(approval_id=req2.pk, checker=checker, now=NOW())


@pytest.mark.django_db
def test_database_refuses_a_decision_by_the_maker():
    maker = UserFactory(role="compliance")
    req = _kyc_request(maker, CounterpartyFactory(code="CP1"))
    with pytest.raises(IntegrityError), transaction.atomic():
        ApprovalDecision.objects.create(
            request=req, maker=maker, checker=maker, decision="approve", decided_at=NOW()
        )


@pytest.mark.django_db
def test_database_refuses_a_decision_that_misstates_the_maker():
    maker, other, _checker = (UserFactory(role="compliance") for _ in range(3))
    req = _kyc_request(maker, CounterpartyFactory(code="CP1"))
    with pytest.raises(IntegrityError), transaction.atomic():
        # Claims `other` made it, so the maker != checker check alone would pass.
        ApprovalDecision.objects.create(
            request=req, maker=other, checker=maker, decision="approve", decided_at=NOW()
        )
        connection.check_constraints()


@pytest.mark.django_db
def test_amount_tiers_require_two_approvers_above_threshold(desk_action):
    maker, a1, a2 = UserFactory(role="ops"), UserFactory(role="risk"), UserFactory(role="ops")
    small = approval_request_create(
        action="test.make_desk",
        maker=maker,
        payload={"code": "S1"},
        amount_usd=Decimal("999999.99"),
        now=NOW(),
    )
    big = approval_request_create(
        action="test.make_desk",
        maker=maker,
        payload={"code": "B1"},
        amount_usd=Decimal("1000000"),
        now=NOW(),
    )
    assert (small.required_approvals, big.required_approvals) == (1, 2)
    approval_approve(approval_id=big.pk, checker=a1, now=NOW())
    assert not Desk.objects.filter(code="B1").exists()
    with pytest.raises(Conflict):
        approval_approve(approval_id=big.pk, checker=a1, now=NOW())
    assert approval_approve(approval_id=big.pk, checker=a2, now=NOW()).status == "approved"
    assert Desk.objects.filter(code="B1").count() == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_approvals_produce_exactly_one_effect(desk_action):
    maker = UserFactory(role="ops")
    checkers = [UserFactory(role="risk") for _ in range(4)]
    req = approval_request_create(
        action="test.make_desk",
        maker=maker,
        payload={"code": "RACE"},
        amount_usd=Decimal("10"),
        now=NOW(),
    )
    barrier = threading.Barrier(len(checkers))
    outcomes = []

    def approve(user):
        try:
            barrier.wait()
            approval_approve(approval_id=req.pk, checker=user, now=NOW())
            outcomes.append("ok")
        except Conflict:
            outcomes.append("conflict")
        finally:
            connection.close()

    threads = [threading.Thread(target=approve, args=(u,)) for u in checkers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["conflict"] * 3 + ["ok"]
    assert Desk.objects.filter(code="RACE").count() == 1
    assert ApprovalRequest.objects.get(pk=req.pk).decisions.count() == 1


@pytest.mark.django_db
def test_api_kyc_change_is_202_and_maker_approval_is_403(api):
    maker, checker = UserFactory(role="compliance"), UserFactory(role="compliance")
    CounterpartyFactory(code="CP1")
    resp = api(maker).post(
        "/api/counterparties/CP1/kyc/",
        {"kyc_status": "restricted", "reason": "media"},
        format="json",
    )
    assert resp.status_code == 202
    body = resp.json()
    assert body["status"] == "pending"
    assert Counterparty.objects.get(code="CP1").kyc_status == "approved"
    assert (
        api(maker)
        .post(f"/api/approvals/{body['approval']}/approve/", {}, format="json")
        .status_code
        == 403
    )
    ok = api(checker).post(
        f"/api/approvals/{body['approval']}/approve/", {"reason": "ok"}, format="json"
    )
    assert ok.status_code == 200 and ok.json()["status"] == "approved"
    assert (
        api(checker)
        .post(f"/api/approvals/{body['approval']}/approve/", {}, format="json")
        .status_code
        == 409
    )
    assert Counterparty.objects.get(code="CP1").kyc_status == "restricted"
    listed = api(checker).get("/api/approvals/?status=approved").json()
    assert listed["count"] == 1 and listed["results"][0]["maker"] == maker.username


@pytest.mark.django_db
def test_updating_the_policy_of_an_unknown_action_is_not_found_and_writes_nothing():
    from financing.approvals.models import ApprovalPolicy

    with pytest.raises(NotFound, match=r"No approval action named 'no\.such'") as exc:
        approval_policy_update(
            action="no.such",
            approver_roles=["ops"],
            tiers=[(Decimal("0"), 1)],
            actor=UserFactory(role="admin"),
            reason="typo",
        )
    assert exc.value.status_code == 404 and "counterparty.kyc_change" in exc.value.message
    assert not ApprovalPolicy.objects.filter(action="no.such").exists()
