"""Approvals pages: the inbox tabs, one request, deciding through the page (segregation of
duties shown as messages, never a server error), and the policies page."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.messages import get_messages
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from financing.approvals import registry
from financing.approvals.models import ApprovalPolicy
from financing.approvals.services import approval_approve, approval_request_create
from financing.refdata.models import Counterparty, Desk
from financing.refdata.services import counterparty_kyc_change_request
from tests.factories import CounterpartyFactory

pytestmark = pytest.mark.django_db


def today():
    return timezone.now().date()


def kyc_request(maker, cp, status="restricted", expires=None, reason="adverse media"):
    return counterparty_kyc_change_request(
        actor=maker,
        counterparty=cp,
        kyc_status=status,
        kyc_expires_on=expires,
        now=timezone.now(),
        reason=reason,
    )


def decide(client, approval, decision, reason="", follow=True):
    return client.post(
        reverse("approvals:decide", args=[approval.pk]),
        {"decision": decision, "reason": reason},
        follow=follow,
    )


def texts(resp):
    return [str(m) for m in get_messages(resp.wsgi_request)]


def detail_url(approval):
    return reverse("approvals:detail", args=[approval.pk])


@pytest.fixture
def desk_action():
    """A test action with USD tiers: one approver below $1m, two from $1m; it creates a desk."""

    def apply(*, request, checker, now):
        Desk.objects.create(code=request.payload["code"], name="made by approval")
        return {"desk": request.payload["code"]}

    action = registry.register(
        registry.ApprovalAction(
            name="test.make_desk",
            description="Create a desk (test)",
            default_roles=("ops", "risk"),
            apply=apply,
            default_tiers=((Decimal("0"), 1), (Decimal("1000000"), 2)),
        )
    )
    yield action
    registry.unregister(action.name)


def desk_request(maker, code="NEWDESK", amount="1500000"):
    return approval_request_create(
        action="test.make_desk",
        maker=maker,
        payload={"code": code, "limits": {"btc": "10"}},
        amount_usd=Decimal(amount),
        summary=f"Create desk {code}",
        reason="new business line",
        now=timezone.now(),
    )


@pytest.fixture
def kyc(make_user):
    """A KYC change (to restricted) made by one compliance user, on an approved counterparty."""
    maker = make_user("compliance", username="comp_maker")
    cp = CounterpartyFactory(code="GALAXY")
    return kyc_request(maker, cp), maker, cp


# --- access -----------------------------------------------------------------------------


def test_anonymous_users_are_sent_to_the_login_page(client, kyc):
    approval, _, _ = kyc
    for path in (
        reverse("approvals:inbox"),
        detail_url(approval),
        reverse("approvals:policies"),
    ):
        resp = client.get(path)
        assert resp.status_code == 302
        assert resp["Location"].startswith(reverse("accounts:login"))
    resp = decide(client, approval, "approve", follow=False)
    assert resp.status_code == 302
    assert resp["Location"].startswith(reverse("accounts:login"))
    approval.refresh_from_db()
    assert approval.status == "pending"


def test_trading_users_get_403_everywhere(make_user, page, kyc):
    approval, _, _ = kyc
    client = page(make_user("trading"))
    assert client.get(reverse("approvals:inbox")).status_code == 403
    assert client.get(detail_url(approval)).status_code == 403
    assert client.get(reverse("approvals:policies")).status_code == 403
    assert decide(client, approval, "approve", follow=False).status_code == 403
    approval.refresh_from_db()
    assert approval.status == "pending"


def test_unknown_request_is_404(make_user, page):
    client = page(make_user("ops"))
    assert client.get(reverse("approvals:detail", args=[999999])).status_code == 404
    resp = client.post(reverse("approvals:decide", args=[999999]), {"decision": "approve"})
    assert resp.status_code == 404


# --- inbox ------------------------------------------------------------------------------


def inbox_ids(client, **params):
    resp = client.get(reverse("approvals:inbox"), params)
    assert resp.status_code == 200
    return [row["obj"].pk for row in resp.context["table_rows"]]


def test_inbox_waiting_for_me_lists_what_i_may_decide(make_user, page, kyc):
    approval, maker, _ = kyc
    checker = page(make_user("compliance"))
    resp = checker.get(reverse("approvals:inbox"))
    assert resp.context["current_tab"] == "awaiting"
    assert [r["obj"].pk for r in resp.context["table_rows"]] == [approval.pk]
    html = resp.content.decode()
    for text in ("counterparty.kyc_change", "GALAXY", "comp_maker", "0/1", "Pending", "UTC"):
        assert text in html
    assert detail_url(approval) in html
    # The maker never sees their own request as waiting for them; ops is not an approver.
    assert inbox_ids(page(maker)) == []
    assert inbox_ids(page(make_user("ops"))) == []


def test_inbox_tabs(make_user, page, kyc, desk_action):
    approval, maker, _ = kyc
    other = desk_request(make_user("ops"))
    done = kyc_request(maker, CounterpartyFactory(code="JUMP"))
    approval_approve(
        approval_id=done.pk, checker=make_user("compliance"), now=timezone.now(), reason="ok"
    )
    client = page(maker)
    assert inbox_ids(client, tab="pending") == [other.pk, approval.pk]
    assert inbox_ids(client, tab="mine") == [done.pk, approval.pk]
    assert inbox_ids(client, tab="decided") == [done.pk]
    assert inbox_ids(client, tab="bogus") == []  # falls back to "waiting for me"


def test_clearing_the_filters_stays_on_the_tab(make_user, page, kyc):
    client = page(make_user("compliance"))
    html = client.get(reverse("approvals:inbox"), {"tab": "decided", "action": "x"}).content
    assert b'href="?tab=decided" data-testid="filters-clear"' in html
    html = client.get(reverse("approvals:inbox")).content  # no tab asked: the first tab
    assert b'href="?tab=awaiting" data-testid="filters-clear"' in html
    refdata = client.get(reverse("refdata:counterparty-list"), {"kyc_status": "pending"}).content
    assert b'href="?" data-testid="filters-clear"' in refdata  # a page without tabs


def test_roles_that_never_approve_start_on_all_pending(make_user, page, kyc):
    approval, _, _ = kyc
    resp = page(make_user("auditor")).get(reverse("approvals:inbox"))
    assert resp.context["current_tab"] == "pending"
    assert "Waiting for me" not in resp.content.decode()
    assert [r["obj"].pk for r in resp.context["table_rows"]] == [approval.pk]


def test_inbox_filters_by_action_and_maker(make_user, page, kyc, desk_action):
    approval, _, _ = kyc
    ops = make_user("ops", username="ops_maker")
    desk = desk_request(ops)
    client = page(make_user("admin"))
    assert inbox_ids(client, tab="pending", action="test.make_desk") == [desk.pk]
    assert inbox_ids(client, tab="pending", action="counterparty.kyc_change") == [approval.pk]
    assert inbox_ids(client, tab="pending", maker="comp_maker") == [approval.pk]
    assert inbox_ids(client, tab="pending", maker="ops_maker") == [desk.pk]


def test_inbox_shows_usd_amounts_and_exports_csv(make_user, page, desk_action):
    request = desk_request(make_user("ops"), amount="1500000")
    client = page(make_user("risk"))
    html = client.get(reverse("approvals:inbox")).content.decode()
    assert "1,500,000.00" in html
    assert "0/2" in html
    resp = client.get(reverse("approvals:inbox"), {"tab": "pending", "export": "csv"})
    assert resp["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(b"".join(resp.streaming_content).decode())))
    assert rows[0][0] == "#" and "Amount (USD)" in rows[0]
    assert len(rows) == 2
    assert rows[1][0] == f"#{request.pk}"
    assert rows[1][rows[0].index("Amount (USD)")] == "1500000"


def test_inbox_runs_a_bounded_number_of_queries(
    make_user, page, django_assert_max_num_queries, desk_action
):
    ops = make_user("ops")
    client = page(make_user("risk"))
    for i in range(3):
        desk_request(ops, code=f"D{i}")
    path = reverse("approvals:inbox") + "?tab=pending"
    client.get(path)

    def count():
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(path).status_code == 200
        return len(ctx.captured_queries)

    few = count()
    for i in range(3, 30):
        desk_request(ops, code=f"D{i}")
    assert count() == few
    with django_assert_max_num_queries(15):
        client.get(path)


# --- detail -----------------------------------------------------------------------------


def test_detail_shows_everything_about_the_request(make_user, page, kyc):
    approval, _, _ = kyc
    resp = page(make_user("compliance")).get(detail_url(approval))
    assert resp.status_code == 200
    html = resp.content.decode()
    for text in (
        "counterparty.kyc_change",
        "comp_maker",
        "adverse media",  # the maker's reason
        "KYC status",  # payload as a readable table
        "restricted",
        "Previous status",
        "0 of 1",
        "Compliance",  # approver roles
        "UTC",
    ):
        assert text in html, text
    assert reverse("refdata:counterparty-detail", args=["GALAXY"]) in html
    assert reverse("audit:record", args=["approvals", "approvalrequest", approval.pk]) in html
    assert 'value="approve"' in html and 'value="reject"' in html


def test_the_maker_sees_withdraw_and_no_approve(page, kyc):
    approval, maker, _ = kyc
    html = page(maker).get(detail_url(approval)).content.decode()
    assert 'value="approve"' not in html and 'value="reject"' not in html
    assert 'value="cancel"' in html
    assert "You made this request" in html


@pytest.mark.parametrize("role", ["ops", "auditor"])
def test_roles_that_may_not_decide_see_no_buttons(make_user, page, kyc, role):
    approval, _, _ = kyc
    html = page(make_user(role)).get(detail_url(approval)).content.decode()
    assert 'value="approve"' not in html and 'value="cancel"' not in html
    assert 'data-testid="why-not"' in html


def test_amount_and_decisions_of_a_two_approver_request(make_user, page, desk_action):
    request = desk_request(make_user("ops"))
    first = make_user("risk", username="risk_one")
    approval_approve(approval_id=request.pk, checker=first, now=timezone.now(), reason="fine")
    resp = page(make_user("ops")).get(detail_url(request))
    html = resp.content.decode()
    assert "1,500,000.00 USD" in html
    assert "1 of 2" in html
    assert "risk_one" in html and "fine" in html
    assert "Limits" in html and "btc: 10" in html  # nested payload values stay readable
    # The first approver may not approve again.
    html = page(first).get(detail_url(request)).content.decode()
    assert 'value="approve"' not in html
    assert "already approved" in html


# --- deciding ---------------------------------------------------------------------------


def test_another_compliance_user_approves_and_the_counterparty_changes(make_user, page, kyc):
    approval, _, cp = kyc
    checker = make_user("compliance")
    resp = decide(page(checker), approval, "approve", reason="file reviewed")
    assert resp.redirect_chain[-1][0] == detail_url(approval)
    assert any(f"Approved #{approval.pk}" in m for m in texts(resp))
    approval.refresh_from_db()
    assert approval.status == "approved"
    assert approval.decisions.get().checker == checker
    cp.refresh_from_db()
    assert cp.kyc_status == "restricted"


def test_a_kyc_approval_with_expiry_applies_both(make_user, page):
    cp = CounterpartyFactory(code="NORTHSTAR", kyc_status="pending", kyc_expires_on=None)
    expiry = today() + timedelta(days=365)
    approval = kyc_request(make_user("compliance"), cp, status="approved", expires=expiry)
    decide(page(make_user("compliance")), approval, "approve")
    cp.refresh_from_db()
    assert cp.kyc_status == "approved" and cp.kyc_expires_on == expiry


def test_the_maker_trying_to_approve_gets_an_error_and_nothing_changes(page, kyc):
    approval, maker, cp = kyc
    resp = decide(page(maker), approval, "approve")
    assert resp.status_code == 200
    assert any("maker can never approve" in m for m in texts(resp))
    assert 'class="message message-error"' in resp.content.decode()
    approval.refresh_from_db()
    assert approval.status == "pending" and not approval.decisions.exists()
    cp.refresh_from_db()
    assert cp.kyc_status == "approved"


@pytest.mark.parametrize("role", ["auditor", "ops"])
def test_a_role_that_may_not_approve_gets_an_error(make_user, page, kyc, role):
    approval, _, cp = kyc
    resp = decide(page(make_user(role)), approval, "approve")
    assert resp.status_code == 200
    assert texts(resp)
    approval.refresh_from_db()
    assert approval.status == "pending"
    cp.refresh_from_db()
    assert cp.kyc_status == "approved"


def test_reject_needs_a_reason(make_user, page, kyc):
    approval, _, cp = kyc
    client = page(make_user("compliance"))
    resp = decide(client, approval, "reject", reason="  ")
    assert resp.status_code == 200
    assert "reason" in resp.context["decision_form"].errors
    approval.refresh_from_db()
    assert approval.status == "pending"
    resp = decide(client, approval, "reject", reason="no adverse media found")
    assert any(f"Rejected #{approval.pk}" in m for m in texts(resp))
    approval.refresh_from_db()
    assert approval.status == "rejected"
    assert approval.decisions.get().reason == "no adverse media found"
    cp.refresh_from_db()
    assert cp.kyc_status == "approved"


def test_the_maker_withdraws_and_nobody_else_can(make_user, page, kyc):
    approval, maker, _ = kyc
    resp = decide(page(make_user("compliance")), approval, "cancel")
    assert any("Only the maker" in m for m in texts(resp))
    approval.refresh_from_db()
    assert approval.status == "pending"
    resp = decide(page(maker), approval, "cancel", reason="raised by mistake")
    assert any(f"Withdrew #{approval.pk}" in m for m in texts(resp))
    approval.refresh_from_db()
    assert approval.status == "cancelled"


def test_deciding_what_is_no_longer_pending_is_an_error_message(make_user, page, kyc):
    approval, _, _ = kyc
    decide(page(make_user("compliance")), approval, "approve")
    resp = decide(page(make_user("compliance")), approval, "reject", reason="too late")
    assert resp.status_code == 200
    assert any("already approved" in m for m in texts(resp))
    approval.refresh_from_db()
    assert approval.status == "approved"


def test_an_unknown_decision_is_an_error_message(make_user, page, kyc):
    approval, _, _ = kyc
    resp = decide(page(make_user("compliance")), approval, "bless")
    assert resp.status_code == 200
    assert any("Decision" in m for m in texts(resp))
    approval.refresh_from_db()
    assert approval.status == "pending"


def test_get_on_decide_shows_the_request(make_user, page, kyc):
    approval, _, _ = kyc
    resp = page(make_user("ops")).get(reverse("approvals:decide", args=[approval.pk]))
    assert resp.status_code == 302 and resp["Location"] == detail_url(approval)


def test_two_approvers_needed_from_one_million(make_user, page, desk_action):
    request = desk_request(make_user("ops"))
    resp = decide(page(make_user("risk")), request, "approve")
    assert any("needs 2 approvers" in m for m in texts(resp))
    assert not Desk.objects.filter(code="NEWDESK").exists()
    decide(page(make_user("ops")), request, "approve")
    request.refresh_from_db()
    assert request.status == "approved"
    assert Desk.objects.filter(code="NEWDESK").exists()


# --- policies ---------------------------------------------------------------------------


def test_policies_are_listed_for_every_staff_role(make_user, page, desk_action):
    html = page(make_user("ops")).get(reverse("approvals:policies")).content.decode()
    assert "counterparty.kyc_change" in html and "test.make_desk" in html
    assert "from $0: 1 approver" in html
    assert "from $1,000,000: 2 approvers" in html
    assert "Operations, Risk" in html
    assert "?edit=" not in html


def test_only_admins_may_change_a_policy(make_user, page, desk_action):
    client = page(make_user("ops"))
    resp = client.post(
        reverse("approvals:policies"),
        {"action": "test.make_desk", "approver_roles": ["ops"], "tiers": "0: 1"},
    )
    assert resp.status_code == 403
    client.get(reverse("approvals:policies"))
    assert ApprovalPolicy.objects.get(action="test.make_desk").approver_roles == ["ops", "risk"]


def test_admin_edits_a_policy_through_the_service(make_user, page, desk_action):
    admin = make_user("admin")
    client = page(admin)
    resp = client.get(reverse("approvals:policies"), {"edit": "test.make_desk"})
    form = resp.context["form"]
    assert form.initial["approver_roles"] == ["ops", "risk"]
    assert "$1,000,000: 2" in form.initial["tiers"]
    resp = client.post(
        reverse("approvals:policies"),
        {
            "action": "test.make_desk",
            "approver_roles": ["risk", "treasury"],
            "tiers": "0: 1\n$250,000: 2\n5,000,000: 3",
            "reason": "tighter controls",
        },
        follow=True,
    )
    assert any("Policy for test.make_desk updated" in m for m in texts(resp))
    policy = ApprovalPolicy.objects.get(action="test.make_desk")
    assert policy.approver_roles == ["risk", "treasury"]
    tiers = [(t.min_amount_usd, t.approvers_required) for t in policy.tiers.order_by("pk")]
    assert tiers == [(Decimal("0"), 1), (Decimal("250000"), 2), (Decimal("5000000"), 3)]
    assert policy.history.first().history_change_reason == "tighter controls"
    assert policy.history.first().history_user == admin


@pytest.mark.parametrize(
    ("tiers", "roles", "field"),
    [
        ("1000: 1", ["ops"], "tiers"),  # must start at 0
        ("0: 9", ["ops"], "tiers"),  # 1 to 5 approvers
        ("zero: one", ["ops"], "tiers"),
        ("0: 1\n0: 2", ["ops"], "tiers"),
        ("0: 1", [], "approver_roles"),
        ("0: 1", ["trading"], "approver_roles"),  # never approves
    ],
)
def test_invalid_policy_shows_the_field_error_and_changes_nothing(
    make_user, page, desk_action, tiers, roles, field
):
    resp = page(make_user("admin")).post(
        reverse("approvals:policies"),
        {"action": "test.make_desk", "approver_roles": roles, "tiers": tiers},
    )
    assert resp.status_code == 200
    assert field in resp.context["form"].errors
    policy = ApprovalPolicy.objects.get(action="test.make_desk")
    assert policy.approver_roles == ["ops", "risk"]
    assert policy.tiers.count() == 2


def test_a_policy_for_an_unknown_action_is_an_error_message(make_user, page):
    resp = page(make_user("admin")).post(
        reverse("approvals:policies"),
        {"action": "no.such", "approver_roles": ["ops"], "tiers": "0: 1"},
        follow=True,
    )
    assert resp.status_code == 200
    assert any("Unknown action" in m for m in texts(resp))
    assert not ApprovalPolicy.objects.filter(action="no.such").exists()


def test_counterparty_still_unchanged_when_the_request_is_only_pending(make_user, page, kyc):
    approval, _, cp = kyc
    page(make_user("compliance")).get(detail_url(approval))
    assert Counterparty.objects.get(pk=cp.pk).kyc_status == "approved"
