"""Maker-checker: a change that needs approval waits for a second person, and the database
itself refuses a maker checking their own request."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import IntegrityError, connection, transaction

from financing import clock
from financing.accounts.roles import Role
from financing.approvals.models import ApprovalDecision, ApprovalPolicy, ApprovalRequest
from financing.approvals.services import (
    approval_approve,
    approval_cancel,
    approval_policy_update,
    approval_reject,
    approval_request_create,
)
from financing.errors import Conflict, Forbidden, NotFound
from financing.refdata.models import Counterparty
from tests.conftest import run_in_threads
from tests.factories import UserFactory
from tests.platform.conftest import TEST_ACTION, TIERED_ACTION, applied_count

NOW = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


@pytest.fixture
def compliance(make_user):
    return make_user(Role.COMPLIANCE, username="compliance-maker")


@pytest.fixture
def checker(make_user):
    return make_user(Role.COMPLIANCE, username="compliance-checker")


def _request_kyc(api, maker, code="CP1", **body):
    body = {"kyc_status": "restricted", "reason": "adverse media", **body}
    return api(maker).post(f"/api/counterparties/{code}/kyc/", body, format="json")


def _kyc(code="CP1") -> tuple[str, object]:
    cp = Counterparty.objects.get(code=code)
    return cp.kyc_status, cp.kyc_expires_on


# --- through the API ------------------------------------------------------------------------


def test_kyc_change_answers_202_pending_and_leaves_the_counterparty_unchanged(
    api, book, compliance
):
    before = _kyc()
    history_before = Counterparty.history.count()

    resp = _request_kyc(api, compliance)

    assert resp.status_code == 202
    body = resp.json()
    assert set(body) == {"approval", "status"}
    assert body["status"] == "pending"
    approval = ApprovalRequest.objects.get(pk=body["approval"])
    assert approval.action == "counterparty.kyc_change"
    assert approval.maker == compliance
    assert approval.payload["kyc_status"] == "restricted"
    assert _kyc() == before
    assert Counterparty.history.count() == history_before


def test_second_compliance_user_approves_and_the_change_is_recorded_as_theirs(
    api, book, compliance, checker
):
    approval_id = _request_kyc(api, compliance).json()["approval"]

    resp = api(checker).post(
        f"/api/approvals/{approval_id}/approve/", {"reason": "ok"}, format="json"
    )

    assert resp.status_code == 200
    assert resp.json()["status"] == "approved"
    assert resp.json()["decisions"][0]["checker"] == checker.username
    assert _kyc()[0] == "restricted"
    latest = Counterparty.objects.get(code="CP1").history.latest("history_date")
    assert latest.history_user == checker
    assert latest.kyc_status == "restricted"
    assert f"#{approval_id}" in latest.history_change_reason
    listed = api(checker).get("/api/approvals/?status=approved").json()
    assert listed["count"] == 1 and listed["results"][0]["maker"] == compliance.username


def test_maker_cannot_approve_own_request(api, book, compliance):
    approval_id = _request_kyc(api, compliance).json()["approval"]
    before = _kyc()

    resp = api(compliance).post(f"/api/approvals/{approval_id}/approve/")

    assert resp.status_code == 403
    assert "maker" in resp.json()["detail"]
    assert _kyc() == before
    approval = ApprovalRequest.objects.get(pk=approval_id)
    assert approval.status == "pending"
    assert approval.decisions.count() == 0


def test_maker_cannot_reject_own_request(api, book, compliance):
    approval_id = _request_kyc(api, compliance).json()["approval"]
    resp = api(compliance).post(f"/api/approvals/{approval_id}/reject/")
    assert resp.status_code == 403
    assert ApprovalRequest.objects.get(pk=approval_id).status == "pending"


@pytest.mark.parametrize("role", [Role.OPS, Role.RISK, Role.TREASURY, Role.ADMIN])
def test_checker_role_outside_the_policy_cannot_approve(api, book, compliance, make_user, role):
    approval_id = _request_kyc(api, compliance).json()["approval"]

    resp = api(make_user(role)).post(f"/api/approvals/{approval_id}/approve/")

    assert resp.status_code == 403
    assert "compliance" in resp.json()["detail"]
    assert ApprovalRequest.objects.get(pk=approval_id).decisions.count() == 0
    assert _kyc()[0] == "approved"


@pytest.mark.parametrize("role", [Role.TRADING, Role.AUDITOR])
@pytest.mark.parametrize("decision", ["approve", "reject"])
def test_trading_and_auditor_never_decide(api, book, compliance, make_user, role, decision):
    approval_id = _request_kyc(api, compliance).json()["approval"]

    resp = api(make_user(role)).post(f"/api/approvals/{approval_id}/{decision}/")

    assert resp.status_code == 403
    assert ApprovalRequest.objects.get(pk=approval_id).status == "pending"


@pytest.mark.parametrize("role", [Role.TRADING, Role.AUDITOR])
def test_trading_and_auditor_never_decide_even_when_a_policy_names_them(
    book, compliance, make_user, role
):
    """The service refuses them even if a request's roles were tampered with."""
    cp = book["counterparty"]
    approval = ApprovalRequest.objects.create(
        action="counterparty.kyc_change",
        maker=compliance,
        target_id=str(cp.pk),
        payload={"kyc_status": "restricted", "kyc_expires_on": None},
        approver_roles=[role],
        created_at=NOW,
    )
    with pytest.raises(Forbidden):
        approval_approve(approval_id=approval.pk, checker=make_user(role), now=NOW)
    assert approval.decisions.count() == 0


def test_auditor_cannot_make_a_request(book, make_user):
    with pytest.raises(Forbidden):
        approval_request_create(
            action="counterparty.kyc_change", maker=make_user(Role.AUDITOR), payload={}, now=NOW
        )
    assert ApprovalRequest.objects.count() == 0


def test_approving_an_approved_request_is_409(api, book, compliance, checker, make_user):
    approval_id = _request_kyc(api, compliance).json()["approval"]
    assert api(checker).post(f"/api/approvals/{approval_id}/approve/").status_code == 200
    history_after_first = Counterparty.history.count()

    again = api(make_user(Role.COMPLIANCE)).post(f"/api/approvals/{approval_id}/approve/")
    same_checker = api(checker).post(f"/api/approvals/{approval_id}/approve/")

    assert again.status_code == 409
    assert "already approved" in again.json()["detail"]
    assert same_checker.status_code == 409
    assert ApprovalDecision.objects.filter(request_id=approval_id).count() == 1
    assert Counterparty.history.count() == history_after_first


def test_rejecting_leaves_the_counterparty_unchanged(api, book, compliance, checker):
    approval_id = _request_kyc(api, compliance).json()["approval"]
    before = _kyc()
    history_before = Counterparty.history.count()

    resp = api(checker).post(
        f"/api/approvals/{approval_id}/reject/", {"reason": "no evidence"}, format="json"
    )

    assert resp.status_code == 200
    assert resp.json()["status"] == "rejected"
    assert resp.json()["decided_at"] is not None
    assert _kyc() == before
    assert Counterparty.history.count() == history_before
    decision = ApprovalDecision.objects.get(request_id=approval_id)
    assert (decision.decision, decision.checker, decision.reason) == (
        "reject",
        checker,
        "no evidence",
    )
    # and a rejected request can no longer be approved
    assert api(checker).post(f"/api/approvals/{approval_id}/approve/").status_code == 409


def test_reject_leaves_the_record_unchanged_and_cancel_is_for_the_maker_only(
    book, compliance, checker
):
    """Through the services; after a rejection the counterparty may get a new KYC request."""
    from financing.refdata.services import counterparty_kyc_change_request

    maker, cp = compliance, book["counterparty"]

    def kyc_request(status="restricted"):
        return counterparty_kyc_change_request(
            actor=maker,
            counterparty=cp,
            kyc_status=status,
            kyc_expires_on=None,
            now=clock.now(),
            reason="adverse media",
        )

    req = approval_reject(
        approval_id=kyc_request().pk,
        checker=checker,
        now=clock.now(),
        reason="insufficient evidence",
    )
    assert req.status == "rejected"
    assert Counterparty.objects.get(pk=cp.pk).kyc_status == "approved"
    req2 = kyc_request(status="pending")
    with pytest.raises(Forbidden):
        approval_cancel(approval_id=req2.pk, user=checker, now=clock.now())
    assert approval_cancel(approval_id=req2.pk, user=maker, now=clock.now()).status == "cancelled"
    with pytest.raises(Conflict):
        approval_approve(approval_id=req2.pk, checker=checker, now=clock.now())


def test_maker_cancels_own_pending_request(api, book, compliance, checker):
    approval_id = _request_kyc(api, compliance).json()["approval"]

    resp = api(compliance).post(
        f"/api/approvals/{approval_id}/cancel/", {"reason": "typo"}, format="json"
    )

    assert resp.status_code == 200
    assert resp.json()["status"] == "cancelled"
    assert _kyc()[0] == "approved"
    assert api(checker).post(f"/api/approvals/{approval_id}/approve/").status_code == 409


def test_only_the_maker_can_cancel(api, book, compliance, checker):
    approval_id = _request_kyc(api, compliance).json()["approval"]

    resp = api(checker).post(f"/api/approvals/{approval_id}/cancel/")

    assert resp.status_code == 403
    assert ApprovalRequest.objects.get(pk=approval_id).status == "pending"


def test_unknown_approval_is_404(api, book, checker):
    assert api(checker).post("/api/approvals/999999/approve/").status_code == 404


def test_pending_list_shows_action_maker_target_and_payload(api, book, compliance, checker):
    _request_kyc(api, compliance)

    resp = api(checker).get("/api/approvals/", {"status": "pending"})

    assert resp.status_code == 200
    [row] = resp.json()["results"]
    assert row["action"] == "counterparty.kyc_change"
    assert row["maker"] == compliance.username
    assert row["target"]["repr"] == "CP1"
    assert row["payload"]["kyc_status"] == "restricted"
    assert api(checker).get("/api/approvals/", {"status": "approved"}).json()["count"] == 0


def test_updating_the_policy_of_an_unknown_action_is_not_found_and_writes_nothing(make_user):
    with pytest.raises(NotFound, match=r"No approval action named 'no\.such'") as exc:
        approval_policy_update(
            action="no.such",
            approver_roles=["ops"],
            tiers=[(Decimal("0"), 1)],
            actor=make_user(Role.ADMIN),
            reason="typo",
        )
    assert exc.value.status_code == 404 and "counterparty.kyc_change" in exc.value.message
    assert not ApprovalPolicy.objects.filter(action="no.such").exists()


# --- the database's own guarantees ---------------------------------------------------------


def _pending(maker, action="counterparty.kyc_change") -> ApprovalRequest:
    return ApprovalRequest.objects.create(
        action=action,
        maker=maker,
        payload={},
        approver_roles=[Role.COMPLIANCE],
        created_at=NOW,
    )


def test_database_refuses_a_decision_where_the_checker_is_the_maker(compliance):
    request = _pending(compliance)
    with pytest.raises(IntegrityError, match="maker_never_checks"), transaction.atomic():
        ApprovalDecision.objects.create(
            request=request,
            maker=compliance,
            checker=compliance,
            decision="approve",
            decided_at=NOW,
        )
    assert ApprovalDecision.objects.count() == 0


def test_database_refuses_a_decision_naming_another_maker_than_the_request(
    compliance, checker, make_user
):
    """The composite FK (request, maker) is deferred: it fires when constraints are checked."""
    request = _pending(compliance)
    impostor = make_user(Role.OPS, username="impostor")
    with (
        pytest.raises(IntegrityError, match="approvaldecision_maker_is_request_maker"),
        transaction.atomic(),
    ):
        ApprovalDecision.objects.create(
            request=request,
            maker=impostor,  # not the request's maker, so the checker check passes
            checker=checker,
            decision="approve",
            decided_at=NOW,
        )
        connection.check_constraints()
    assert ApprovalDecision.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_database_refuses_a_decision_with_a_forged_maker_at_commit():
    maker = UserFactory(role=Role.COMPLIANCE, username="real-maker")
    request = _pending(maker)
    impostor = UserFactory(role=Role.OPS, username="impostor")
    checker = UserFactory(role=Role.COMPLIANCE, username="checker")
    with (
        pytest.raises(IntegrityError, match="approvaldecision_maker_is_request_maker"),
        transaction.atomic(),
    ):
        ApprovalDecision.objects.create(
            request=request, maker=impostor, checker=checker, decision="approve", decided_at=NOW
        )
        # no error yet: the composite key is deferred to the commit that follows
    assert ApprovalDecision.objects.count() == 0


# --- USD tiers ------------------------------------------------------------------------------


def _tiered(maker, amount: str) -> ApprovalRequest:
    return approval_request_create(
        action=TIERED_ACTION,
        maker=maker,
        payload={"amount": amount},
        amount_usd=Decimal(amount),
        summary="tiered test",
        now=NOW,
    )


@pytest.mark.parametrize(
    ("amount", "required"),
    [("0", 1), ("999999.999999999999999999", 1), ("1000000", 2), ("250000000", 2)],
)
def test_tiers_set_the_number_of_approvers_by_usd_amount(
    tiered_action, make_user, amount, required
):
    request = _tiered(make_user(Role.OPS), amount)
    assert request.required_approvals == required


def test_above_the_threshold_two_different_approvers_are_needed_and_the_effect_runs_once(
    tiered_action, make_user
):
    maker = make_user(Role.OPS, username="tier-maker")
    first, second = make_user(Role.OPS, username="ops-b"), make_user(Role.RISK, username="risk-a")
    request = _tiered(maker, "2500000")

    after_first = approval_approve(approval_id=request.pk, checker=first, now=NOW)
    assert after_first.status == "pending"
    assert applied_count() == 0

    with pytest.raises(Conflict, match="already approved"):
        approval_approve(approval_id=request.pk, checker=first, now=NOW)
    assert ApprovalRequest.objects.get(pk=request.pk).status == "pending"
    assert applied_count() == 0

    done = approval_approve(approval_id=request.pk, checker=second, now=NOW + timedelta(minutes=5))
    assert done.status == "approved"
    assert done.decided_at == NOW + timedelta(minutes=5)
    assert applied_count() == 1
    assert ApprovalDecision.objects.filter(request=request).count() == 2

    with pytest.raises(Conflict):
        approval_approve(approval_id=request.pk, checker=make_user(Role.RISK), now=NOW)
    assert applied_count() == 1


def test_a_checker_who_approved_cannot_then_reject_and_gets_409(api, tiered_action, make_user):
    request = _tiered(make_user(Role.OPS), "5000000")
    first = make_user(Role.RISK)
    approval_approve(approval_id=request.pk, checker=first, now=NOW)

    resp = api(first).post(f"/api/approvals/{request.pk}/reject/", {}, format="json")

    assert resp.status_code == 409
    assert "already approved" in resp.json()["detail"]
    request.refresh_from_db()
    assert request.status == "pending"
    assert list(request.decisions.values_list("decision", flat=True)) == ["approve"]
    assert applied_count() == 0


def test_below_the_threshold_one_approver_applies(tiered_action, make_user):
    request = _tiered(make_user(Role.OPS), "500")
    done = approval_approve(approval_id=request.pk, checker=make_user(Role.RISK), now=NOW)
    assert done.status == "approved"
    assert applied_count() == 1


def test_reject_after_a_partial_approval_stops_the_effect(tiered_action, make_user):
    request = _tiered(make_user(Role.OPS), "5000000")
    approval_approve(approval_id=request.pk, checker=make_user(Role.OPS), now=NOW)
    rejected = approval_reject(approval_id=request.pk, checker=make_user(Role.RISK), now=NOW)
    assert rejected.status == "rejected"
    assert applied_count() == 0


def test_cancel_by_the_maker_stops_the_effect(tiered_action, make_user):
    maker = make_user(Role.OPS)
    request = _tiered(maker, "5000000")
    cancelled = approval_cancel(approval_id=request.pk, user=maker, now=NOW)
    assert cancelled.status == "cancelled"
    with pytest.raises(Conflict):
        approval_approve(approval_id=request.pk, checker=make_user(Role.RISK), now=NOW)
    assert applied_count() == 0


# --- concurrency ----------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_concurrent_approvals_of_the_same_request_apply_exactly_once(effect_action):
    maker = UserFactory(role=Role.OPS, username="race-maker")
    checkers = [
        UserFactory(role=role, username=f"racer-{i}")
        for i, role in enumerate([Role.OPS, Role.RISK, Role.TREASURY, Role.COMPLIANCE, Role.ADMIN])
    ]
    request = approval_request_create(
        action=TEST_ACTION, maker=maker, payload={"race": True}, now=clock.now()
    )
    assert request.required_approvals == 1

    results = run_in_threads(
        len(checkers),
        lambda i: approval_approve(approval_id=request.pk, checker=checkers[i], now=clock.now()),
    )

    winners = [r for r in results if isinstance(r, ApprovalRequest)]
    losers = [r for r in results if not isinstance(r, ApprovalRequest)]
    assert len(winners) == 1, results
    assert all(isinstance(r, Conflict) for r in losers), results
    assert applied_count() == 1
    assert ApprovalDecision.objects.filter(request_id=request.pk).count() == 1
    assert ApprovalRequest.objects.get(pk=request.pk).status == "approved"


# --- one pending KYC change per counterparty ------------------------------------------------


def test_a_second_kyc_change_while_one_waits_is_409_and_requests_nothing(
    api, book, compliance, make_user
):
    first = _request_kyc(api, compliance)
    assert first.status_code == 202
    other = make_user(Role.COMPLIANCE, username="compliance-other")

    again = _request_kyc(api, other, kyc_status="rejected", reason="second opinion")

    assert again.status_code == 409
    detail = again.json()["detail"]
    assert "CP1 already has a KYC change waiting for approval" in detail
    assert f"#{first.json()['approval']}" in detail
    assert ApprovalRequest.objects.filter(action="counterparty.kyc_change").count() == 1


def test_once_the_pending_kyc_change_is_withdrawn_a_new_one_may_be_requested(api, book, compliance):
    first = _request_kyc(api, compliance).json()["approval"]
    approval_cancel(approval_id=first, user=compliance, now=NOW)

    assert _request_kyc(api, compliance, kyc_status="rejected").status_code == 202
    assert ApprovalRequest.objects.filter(status="pending").count() == 1


def test_database_refuses_a_second_pending_kyc_change_for_one_counterparty(book, compliance):
    cp = book["counterparty"]

    def create():
        return approval_request_create(
            action="counterparty.kyc_change",
            maker=compliance,
            payload={},
            target=cp,
            now=NOW,
        )

    create()
    with pytest.raises(IntegrityError, match="one_pending_kyc_change"), transaction.atomic():
        create()


@pytest.mark.django_db(transaction=True)
def test_concurrent_kyc_change_requests_leave_exactly_one_pending():
    from financing.refdata.services import counterparty_kyc_change_request
    from tests.factories import CounterpartyFactory

    cp = CounterpartyFactory(code="RACE", kyc_status="pending", kyc_expires_on=None)
    makers = [UserFactory(role=Role.COMPLIANCE, username=f"kyc-racer-{i}") for i in range(4)]

    results = run_in_threads(
        len(makers),
        lambda i: counterparty_kyc_change_request(
            actor=makers[i],
            counterparty=cp,
            kyc_status="rejected",
            kyc_expires_on=None,
            now=clock.now(),
            reason="race",
        ),
    )

    winners = [r for r in results if isinstance(r, ApprovalRequest)]
    losers = [r for r in results if not isinstance(r, ApprovalRequest)]
    assert len(winners) == 1, results
    assert all(isinstance(r, Conflict) for r in losers), results
    assert ApprovalRequest.objects.filter(status="pending").count() == 1
