"""Server-rendered pages: access by role, content, forms through services, exports, query counts."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from financing.approvals.models import ApprovalRequest
from financing.jobs.models import JobRun
from financing.refdata.models import Asset, Counterparty
from financing.refdata.services import asset_update
from tests.factories import AssetFactory, CounterpartyFactory, UserFactory

PAGES = [
    ("/", "dashboard.view"),
    ("/refdata/counterparties/", "refdata.view"),
    ("/refdata/counterparties/CP1/", "refdata.view"),
    ("/refdata/assets/", "refdata.view"),
    ("/refdata/assets/new/", "refdata.manage"),
    ("/refdata/counterparties/new/", "counterparty.manage"),
    ("/approvals/", "approvals.view"),
    ("/approvals/policies/", "approvals.view"),
    ("/audit/", "audit.view"),
    ("/audit/auth-events/", "audit.auth_events"),
    ("/jobs/", "jobs.view"),
    ("/jobs/runs/", "jobs.view"),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("url", "capability"), PAGES)
@pytest.mark.parametrize(
    "role", ["ops", "risk", "treasury", "compliance", "trading", "auditor", "admin"]
)
def test_pages_follow_the_permission_matrix(page, url, capability, role):
    from financing.accounts.roles import MATRIX

    CounterpartyFactory(code="CP1")
    resp = page(UserFactory(role=role)).get(url)
    assert resp.status_code == (200 if role in MATRIX[capability] else 403)


@pytest.mark.django_db
@pytest.mark.parametrize(("url", "_"), PAGES)
def test_anonymous_users_are_sent_to_login(url, _):
    resp = Client().get(url)
    assert resp.status_code == 302 and resp["Location"].startswith("/accounts/login/")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("url", "active"),
    [
        ("/", "Dashboard"),
        ("/audit/", "Activity"),
        ("/audit/auth-events/", "Logins & tokens"),
        ("/audit/?user=system", "Activity"),
        ("/refdata/counterparties/CP1/", "Counterparties"),
        ("/jobs/runs/", "Jobs"),
        ("/approvals/policies/", "Approvals inbox"),
    ],
)
def test_navigation_highlights_exactly_one_item(page, url, active):
    CounterpartyFactory(code="CP1")
    resp = page(UserFactory(role="admin")).get(url)
    assert resp.status_code == 200
    lit = [
        i["label"] for items in resp.context["nav_sections"].values() for i in items if i["active"]
    ]
    assert lit == [active]


@pytest.mark.django_db
def test_counterparty_list_filters_and_exports_what_it_shows(page):
    CounterpartyFactory(code="GOOD")
    CounterpartyFactory(code="PEND", kyc_status="pending", kyc_expires_on=None)
    CounterpartyFactory(code="EXP", kyc_status="expired")
    client = page(UserFactory(role="ops"))
    html = client.get("/refdata/counterparties/?kyc_status=not_approved").content.decode()
    assert "PEND" in html and "EXP" in html and "GOOD" not in html
    csv = client.get("/refdata/counterparties/?kyc_status=not_approved&export=csv")
    assert csv["Content-Type"].startswith("text/csv")
    body = b"".join(csv.streaming_content).decode()
    assert body.splitlines()[0].startswith("Code,Legal name")
    assert {line.split(",")[0] for line in body.splitlines()[1:]} == {"PEND", "EXP"}
    xlsx = client.get("/refdata/counterparties/?export=xlsx")
    assert xlsx.status_code == 200 and xlsx.content[:2] == b"PK"


@pytest.mark.django_db
@pytest.mark.parametrize(
    "url", ["/refdata/counterparties/", "/audit/", "/approvals/?tab=pending", "/jobs/"]
)
def test_list_pages_run_a_bounded_number_of_queries(page, url, django_assert_max_num_queries):
    client = page(UserFactory(role="admin"))
    maker = UserFactory(role="compliance")

    def grow(n):
        for i in range(n):
            cp = CounterpartyFactory()
            ApprovalRequest.objects.create(
                action="counterparty.kyc_change",
                maker=maker,
                target_id=str(cp.pk),
                payload={"i": i},
                approver_roles=["compliance"],
                created_at=timezone.now(),
            )
            JobRun.objects.create(
                job="expire_kyc",
                started_at=timezone.now(),
                status="succeeded",
                finished_at=timezone.now(),
            )

    grow(3)
    client.get(url)
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as small:
        client.get(url)
    grow(40)
    with django_assert_max_num_queries(len(small.captured_queries)):
        assert client.get(url).status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize("key", ["refdata.kyc_expiring", "refdata.kyc_blocked"])
def test_kyc_tiles_link_to_a_list_with_as_many_rows_as_they_count(page, key):
    today = timezone.now().date()
    soon = today + timedelta(days=10)
    CounterpartyFactory(code="SOON", kyc_expires_on=soon)
    CounterpartyFactory(code="SOONOFF", kyc_expires_on=soon, is_active=False)
    CounterpartyFactory(code="LATER", kyc_expires_on=today + timedelta(days=200))
    CounterpartyFactory(code="PEND", kyc_status="pending", kyc_expires_on=None)
    CounterpartyFactory(code="PENDOFF", kyc_status="pending", kyc_expires_on=None, is_active=False)
    client = page(UserFactory(role="compliance"))
    [tile] = [t for t in client.get("/").context["tiles"] if t["tile"].key == key]
    listed = client.get(tile["url"])
    codes = {row["obj"].code for row in listed.context["table_rows"]}
    assert tile["value"] == len(codes) == 1
    assert codes == ({"SOON"} if key == "refdata.kyc_expiring" else {"PEND"})


@pytest.mark.django_db
def test_asset_form_creates_through_the_service_and_shows_field_errors(page):
    client = page(UserFactory(role="ops"))
    bad = client.post("/refdata/assets/new/", {"symbol": "bad sym", "name": "X", "decimals": 30})
    assert bad.status_code == 200 and "errorlist" in bad.content.decode()
    assert Asset.objects.count() == 0
    ok = client.post(
        "/refdata/assets/new/",
        {
            "symbol": "wbtc",
            "name": "Wrapped BTC",
            "decimals": 8,
            "chains": "ethereum",
            "reason": "listing",
        },
    )
    assert ok.status_code == 302
    asset = Asset.objects.get(symbol="WBTC")
    assert asset.chains == ["ethereum"] and asset.history.first().history_change_reason == "listing"


@pytest.mark.django_db
def test_kyc_change_page_flow_maker_cannot_approve_checker_can(page):
    cp = CounterpartyFactory(code="NS", kyc_status="pending", kyc_expires_on=None)
    maker, checker = UserFactory(role="compliance"), UserFactory(role="compliance")
    expiry = (timezone.now().date() + timedelta(days=300)).isoformat()
    c = page(maker)
    resp = c.post(
        "/refdata/counterparties/NS/kyc/",
        {"kyc_status": "approved", "kyc_expires_on": expiry, "reason": "CDD ok"},
    )
    assert resp.status_code == 302
    approval = ApprovalRequest.objects.get()
    assert Counterparty.objects.get(pk=cp.pk).kyc_status == "pending"
    c.post(f"/approvals/{approval.pk}/decide/", {"decision": "approve"})
    assert "maker can never approve" in c.get(f"/approvals/{approval.pk}/").content.decode()
    assert ApprovalRequest.objects.get(pk=approval.pk).status == "pending"
    c2 = Client()
    c2.force_login(checker)
    assert "Approve" in c2.get(f"/approvals/{approval.pk}/").content.decode()
    c2.post(f"/approvals/{approval.pk}/decide/", {"decision": "approve", "reason": "ok"})
    assert Counterparty.objects.get(pk=cp.pk).kyc_status == "approved"


@pytest.mark.django_db
def test_bad_kyc_form_is_refused_with_a_message_and_no_approval(page):
    CounterpartyFactory(code="NS", kyc_status="pending", kyc_expires_on=None)
    resp = page(UserFactory(role="compliance")).post(
        "/refdata/counterparties/NS/kyc/", {"kyc_status": "approved", "reason": "x"}
    )
    assert resp.status_code == 400 and "expiry" in resp.content.decode()
    assert ApprovalRequest.objects.count() == 0


@pytest.mark.django_db
def test_record_timeline_shows_diffs_and_as_of(page):
    admin = UserFactory(role="admin")
    asset = AssetFactory(symbol="TLN", name="Before")
    created = asset.history.first().history_date
    asset_update(actor=admin, asset=asset, name="After", reason="issuer rename")
    client = page(UserFactory(role="auditor"))
    url = f"/audit/refdata/asset/{asset.pk}/"
    html = client.get(url).content.decode()
    assert (
        "issuer rename" in html and "Before" in html and "After" in html and admin.username in html
    )
    as_of = client.get(url, {"as_of": created.strftime("%Y-%m-%dT%H:%M:%S.%f")}).content.decode()
    assert "Before" in as_of.split('data-testid="as-of"')[1].split("</dl>")[0]
    early = client.get(url, {"as_of": "2000-01-01T00:00"}).content.decode()
    assert "did not exist yet" in early
    assert "not a date" in client.get(url, {"as_of": "yesterday"}).content.decode()
    csv = client.get(url, {"export": "csv"}).content.decode()
    assert "issuer rename,name,Before,After" in csv
    assert client.get("/audit/refdata/asset/999999/").status_code == 404


@pytest.mark.parametrize(
    ("text", "exported"),
    [
        ("=1+2", "'=1+2"),
        ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("-12.5", "-12.5"),
        ("+7", "+7"),
        ("-0.000000000000000001", "-0.000000000000000001"),
        ("-1e5", "-1e5"),
        ("2026-01-31", "2026-01-31"),
        ("Bitcoin", "Bitcoin"),
        ("", ""),
    ],
)
def test_csv_cells_that_a_spreadsheet_would_evaluate_get_a_quote(text, exported):
    from financing.dashboard.tables import csv_safe

    assert csv_safe(text) == exported


@pytest.mark.django_db
def test_record_history_csv_quotes_formulas(page):
    admin = UserFactory(role="admin")
    asset = AssetFactory(symbol="FRM", name="Plain")
    asset_update(actor=admin, asset=asset, name="=HYPERLINK(1)", reason="@evil")
    csv = page(UserFactory(role="auditor")).get(f"/audit/refdata/asset/{asset.pk}/?export=csv")
    assert "'@evil,name,Plain,'=HYPERLINK(1)" in csv.content.decode()


@pytest.mark.django_db
def test_run_now_queues_the_job_for_ops_only(page, django_capture_on_commit_callbacks):
    from unittest import mock

    with mock.patch("financing.jobs.tasks.run_job_task.delay") as delay:
        with django_capture_on_commit_callbacks(execute=True):
            resp = page(UserFactory(role="ops")).post("/jobs/expire_kyc/run/")
        assert resp.status_code == 302
        delay.assert_called_once()
        assert delay.call_args.args[0] == "expire_kyc"
    c = Client()
    c.force_login(UserFactory(role="risk"))
    assert c.post("/jobs/expire_kyc/run/").status_code == 403
    c.force_login(UserFactory(role="ops"))
    assert c.post("/jobs/nope/run/").status_code == 404
