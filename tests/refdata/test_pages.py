"""Reference-data pages: who sees what, forms that write through the services, KYC changes that
wait for a checker, filters and exports of exactly the filtered rows, bounded queries."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import openpyxl
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from financing.approvals.models import ApprovalRequest
from financing.refdata.models import Asset, Counterparty, Desk, Venue
from tests.factories import AssetFactory, CounterpartyFactory, DeskFactory, VenueFactory

pytestmark = pytest.mark.django_db

VALID_LEI = "5493001KJTIIGC8Y1R12"
BAD_CHECK_DIGITS_LEI = "5493001KJTIIGC8Y1R00"


def today():
    return timezone.now().date()


def url(name, *args):
    return reverse(f"refdata:{name}", args=args)


@pytest.fixture
def records():
    return {
        "asset": AssetFactory(symbol="BTC", name="Bitcoin", decimals=8, chains=["bitcoin"]),
        "venue": VenueFactory(code="DERIBIT", name="Deribit", kind="exchange"),
        "desk": DeskFactory(code="DELTA1", name="Delta one"),
        "counterparty": CounterpartyFactory(code="GALAXY", name="Galaxy Digital LLC"),
    }


def every_page(records):
    pages = []
    for kind, obj in records.items():
        key = obj.symbol if kind == "asset" else obj.code
        pages += [
            url(f"{kind}-list"),
            url(f"{kind}-detail", key),
            url(f"{kind}-create"),
            url(f"{kind}-edit", key),
        ]
    return [*pages, url("counterparty-kyc", "GALAXY")]


# --- access -----------------------------------------------------------------------------


def test_anonymous_users_are_sent_to_the_login_page(client, records):
    for path in every_page(records):
        resp = client.get(path)
        assert resp.status_code == 302, path
        assert resp["Location"].startswith(reverse("accounts:login")), path


@pytest.mark.parametrize("role", ["risk", "treasury", "trading", "auditor", "compliance"])
def test_roles_that_cannot_manage_refdata_get_403_on_asset_venue_desk_forms(
    make_user, page, records, role
):
    client = page(make_user(role))
    for kind, key in (("asset", "BTC"), ("venue", "DERIBIT"), ("desk", "DELTA1")):
        assert client.get(url(f"{kind}-create")).status_code == 403
        assert client.get(url(f"{kind}-edit", key)).status_code == 403
    resp = client.post(url("asset-create"), {"symbol": "ETH", "name": "Ether", "decimals": 18})
    assert resp.status_code == 403
    assert not Asset.objects.filter(symbol="ETH").exists()


@pytest.mark.parametrize("role", ["risk", "treasury", "trading", "auditor"])
def test_roles_that_cannot_manage_counterparties_get_403_on_their_forms(
    make_user, page, records, role
):
    client = page(make_user(role))
    assert client.get(url("counterparty-create")).status_code == 403
    assert client.get(url("counterparty-edit", "GALAXY")).status_code == 403


@pytest.mark.parametrize("role", ["ops", "risk", "treasury", "trading", "auditor", "admin"])
def test_only_compliance_may_request_a_kyc_change(make_user, page, records, role):
    resp = page(make_user(role)).post(
        url("counterparty-kyc", "GALAXY"),
        {"kyc_status": "restricted", "reason": "adverse media"},
    )
    assert resp.status_code == 403
    assert not ApprovalRequest.objects.exists()


@pytest.mark.parametrize("role", ["ops", "risk", "treasury", "compliance", "trading", "auditor"])
def test_every_role_reads_every_list_and_detail(make_user, page, records, role):
    client = page(make_user(role))
    for kind, obj in records.items():
        key = obj.symbol if kind == "asset" else obj.code
        listing = client.get(url(f"{kind}-list"))
        assert listing.status_code == 200
        assert key in listing.content.decode()
        detail = client.get(url(f"{kind}-detail", key))
        assert detail.status_code == 200
        assert obj.name in detail.content.decode()


def test_new_buttons_show_only_for_roles_that_can_manage(make_user, page, records):
    ops = page(make_user("ops")).get(url("asset-list")).content.decode()
    assert "New asset" in ops and url("asset-create") in ops
    risk = page(make_user("risk")).get(url("asset-list")).content.decode()
    assert "New asset" not in risk
    compliance = page(make_user("compliance"))
    assert "New counterparty" in compliance.get(url("counterparty-list")).content.decode()
    assert "New venue" not in compliance.get(url("venue-list")).content.decode()


def test_unknown_codes_are_404(make_user, page, records):
    client = page(make_user("ops"))
    assert client.get(url("asset-detail", "NOPE")).status_code == 404
    assert client.get(url("counterparty-edit", "NOPE")).status_code == 404


def test_lower_case_codes_find_the_record(make_user, page, records):
    assert page(make_user("ops")).get(url("asset-detail", "btc")).status_code == 200


# --- lists ------------------------------------------------------------------------------


def test_counterparty_list_shows_kyc_badges_and_days_left(make_user, page):
    CounterpartyFactory(code="GOOD", kyc_expires_on=today() + timedelta(days=200))
    CounterpartyFactory(code="SOON", kyc_expires_on=today() + timedelta(days=10))
    CounterpartyFactory(code="WAIT", kyc_status="pending", kyc_expires_on=None)
    CounterpartyFactory(code="NOPE", kyc_status="rejected", kyc_expires_on=None)
    html = page(make_user("ops")).get(url("counterparty-list")).content.decode()
    assert '<span class="badge badge-ok">Approved</span>' in html
    assert '<span class="badge badge-warn">Pending</span>' in html
    assert '<span class="badge badge-bad">Rejected</span>' in html
    assert "200 d left" in html
    assert '<span class="badge badge-warn">' + f"{today() + timedelta(days=10):%Y-%m-%d}" in html
    assert f'href="{url("counterparty-detail", "GOOD")}"' in html


def codes_in(resp):
    return {row["obj"].code for row in resp.context["table_rows"]}


def test_counterparty_filters(make_user, page):
    CounterpartyFactory(code="OK1", kyc_expires_on=today() + timedelta(days=300), kind="fund")
    CounterpartyFactory(
        code="OK2",
        kyc_expires_on=today() + timedelta(days=5),
        kind="market_maker",
        jurisdiction="US",
        risk_rating="high",
        name="Jump Crypto",
    )
    CounterpartyFactory(code="PEND", kyc_status="pending", kyc_expires_on=None)
    CounterpartyFactory(code="EXP", kyc_status="expired", kyc_expires_on=today() - timedelta(1))
    client = page(make_user("compliance"))
    lst = url("counterparty-list")
    assert codes_in(client.get(lst)) == {"OK1", "OK2", "PEND", "EXP"}
    assert codes_in(client.get(lst, {"kyc_status": "not_approved"})) == {"PEND", "EXP"}
    assert codes_in(client.get(lst, {"kyc_status": "pending"})) == {"PEND"}
    soon = (today() + timedelta(days=30)).isoformat()
    assert codes_in(client.get(lst, {"kyc_expires_before": soon})) == {"OK2", "EXP"}
    both = {"kyc_status": "approved", "kyc_expires_before": soon}
    assert codes_in(client.get(lst, both)) == {"OK2"}
    assert codes_in(client.get(lst, {"kind": "market_maker"})) == {"OK2"}
    assert codes_in(client.get(lst, {"risk_rating": "high"})) == {"OK2"}
    assert codes_in(client.get(lst, {"jurisdiction": "us"})) == {"OK2"}
    assert codes_in(client.get(lst, {"q": "jump"})) == {"OK2"}
    assert codes_in(client.get(lst, {"q": "pen"})) == {"PEND"}


def test_counterparty_list_links_a_pending_kyc_change(make_user, page):
    cp = CounterpartyFactory(code="WAIT", kyc_status="pending", kyc_expires_on=None)
    client = page(make_user("compliance"))
    client.post(
        url("counterparty-kyc", cp.code),
        {"kyc_status": "rejected", "reason": "no documents"},
    )
    approval = ApprovalRequest.objects.get()
    html = client.get(url("counterparty-list")).content.decode()
    assert reverse("approvals:detail", args=[approval.pk]) in html


def test_other_lists_filter_too(make_user, page):
    AssetFactory(symbol="USDC", name="USD Coin", decimals=6, is_stablecoin=True)
    AssetFactory(symbol="BTC", name="Bitcoin", decimals=8)
    VenueFactory(code="BITGO", kind="custodian", status="active")
    VenueFactory(code="FTX", kind="exchange", status="closed")
    DeskFactory(code="DELTA1", risk_profile="low")
    DeskFactory(code="VOL", risk_profile="high")
    client = page(make_user("trading"))

    def keys(kind, params):
        resp = client.get(url(f"{kind}-list"), params)
        return {str(row["obj"]) for row in resp.context["table_rows"]}

    assert keys("asset", {"is_stablecoin": "true"}) == {"USDC"}
    assert keys("asset", {"is_stablecoin": "false"}) == {"BTC"}
    assert keys("asset", {"q": "coin"}) == {"USDC", "BTC"}
    assert keys("venue", {"status": "closed"}) == {"FTX"}
    assert keys("venue", {"kind": "custodian"}) == {"BITGO"}
    assert keys("desk", {"risk_profile": "high"}) == {"VOL"}


def test_counterparty_csv_export_has_exactly_the_filtered_rows(make_user, page):
    CounterpartyFactory(code="OK1")
    CounterpartyFactory(code="PEND", kyc_status="pending", kyc_expires_on=None, name="Pend SA")
    CounterpartyFactory(code="REJ", kyc_status="rejected", kyc_expires_on=None)
    resp = page(make_user("ops")).get(
        url("counterparty-list"), {"kyc_status": "not_approved", "export": "csv"}
    )
    assert resp.status_code == 200
    assert resp["Content-Type"].startswith("text/csv")
    assert "attachment" in resp["Content-Disposition"]
    body = b"".join(resp.streaming_content).decode()
    rows = list(csv.reader(io.StringIO(body)))
    assert rows[0][:2] == ["Code", "Legal name"]
    assert sorted(r[0] for r in rows[1:]) == ["PEND", "REJ"]
    assert "Pend SA" in body


def test_csv_export_keeps_plain_iso_dates(make_user, page):
    expiry = today() + timedelta(days=90)
    CounterpartyFactory(code="OK1", kyc_expires_on=expiry)
    resp = page(make_user("ops")).get(url("counterparty-list"), {"export": "csv"})
    rows = list(csv.reader(io.StringIO(b"".join(resp.streaming_content).decode())))
    assert rows[1][rows[0].index("KYC expires")] == expiry.isoformat()


def test_xlsx_export_of_assets(make_user, page):
    AssetFactory(symbol="BTC")
    resp = page(make_user("auditor")).get(url("asset-list"), {"export": "xlsx"})
    assert resp.status_code == 200
    assert resp["Content-Type"].startswith("application/vnd.openxmlformats")


@pytest.mark.parametrize(
    "params",
    [{"kyc_status": "bogus"}, {"kyc_expires_before": "2026-13-45"}, {"risk_rating": "huge"}],
)
def test_a_filter_that_does_not_validate_shows_and_exports_no_rows(make_user, page, params):
    CounterpartyFactory(code="OK1")
    CounterpartyFactory(code="PEND", kyc_status="pending", kyc_expires_on=None)
    client = page(make_user("ops"))
    lst = url("counterparty-list")
    resp = client.get(lst, params)
    assert resp.status_code == 200 and codes_in(resp) == set()
    (field,) = params
    assert resp.context["filterset"].errors[field]
    assert 'class="errorlist"' in resp.content.decode()
    export = client.get(lst, {**params, "export": "csv"})
    rows = list(csv.reader(io.StringIO(b"".join(export.streaming_content).decode())))
    assert rows[0][:2] == ["Code", "Legal name"] and rows[1:] == []
    xlsx = client.get(lst, {**params, "export": "xlsx"})
    sheet = openpyxl.load_workbook(io.BytesIO(xlsx.content)).active
    assert sheet.max_row == 1  # the header only


def test_exports_never_hand_a_spreadsheet_a_formula(make_user, page):
    AssetFactory(symbol="EVIL", name='=HYPERLINK("http://x.example","click")')
    AssetFactory(symbol="ATS", name="@SUM(A1:A9)")
    AssetFactory(symbol="NEG", name="-12.5")
    client = page(make_user("ops"))
    resp = client.get(url("asset-list"), {"export": "csv"})
    rows = list(csv.reader(io.StringIO(b"".join(resp.streaming_content).decode())))
    names = {r[0]: r[1] for r in rows[1:]}
    assert names["EVIL"] == '\'=HYPERLINK("http://x.example","click")'
    assert names["ATS"] == "'@SUM(A1:A9)"
    assert names["NEG"] == "-12.5"  # a plain number stays a number
    xlsx = client.get(url("asset-list"), {"export": "xlsx"})
    sheet = openpyxl.load_workbook(io.BytesIO(xlsx.content)).active
    cells = {row[0].value: row[1] for row in sheet.iter_rows(min_row=2)}
    assert cells["EVIL"].data_type == "s"
    assert cells["EVIL"].value == '=HYPERLINK("http://x.example","click")'


def _count_list_queries(client, path):
    with CaptureQueriesContext(connection) as ctx:
        resp = client.get(path)
    assert resp.status_code == 200
    return len(ctx.captured_queries)


@pytest.mark.parametrize("kind", ["asset", "venue", "desk", "counterparty"])
def test_list_pages_run_a_bounded_number_of_queries(
    make_user, page, django_assert_max_num_queries, kind
):
    factory = {
        "asset": AssetFactory,
        "venue": VenueFactory,
        "desk": DeskFactory,
        "counterparty": CounterpartyFactory,
    }[kind]
    client = page(make_user("compliance"))
    path = url(f"{kind}-list")
    factory.create_batch(3)
    client.get(path)  # warm per-process caches (content types)
    few = _count_list_queries(client, path)
    factory.create_batch(27)
    many = _count_list_queries(client, path)
    assert few == many
    with django_assert_max_num_queries(12):
        client.get(path)


# --- details ----------------------------------------------------------------------------


def test_detail_shows_every_field_and_a_history_link(make_user, page, records):
    cp = records["counterparty"]
    cp.lei = VALID_LEI
    cp.save()
    html = page(make_user("ops")).get(url("counterparty-detail", "GALAXY")).content.decode()
    for text in ("GALAXY", "Galaxy Digital LLC", "Fund", "GB", VALID_LEI, "Medium", "Approved"):
        assert text in html
    assert 'class="fields"' in html
    assert reverse("audit:record", args=["refdata", "counterparty", cp.pk]) in html
    assert "History" in html


def test_roles_without_audit_access_get_no_history_link(make_user, page, records):
    html = page(make_user("trading")).get(url("asset-detail", "BTC")).content.decode()
    assert reverse("audit:record", args=["refdata", "asset", records["asset"].pk]) not in html


def test_counterparty_detail_kyc_box_for_compliance(make_user, page, records):
    html = page(make_user("compliance")).get(url("counterparty-detail", "GALAXY")).content
    html = html.decode()
    assert 'data-testid="kyc-box"' in html
    assert "Can transact" in html
    assert "Request KYC change" in html
    assert url("counterparty-kyc", "GALAXY") in html


def test_counterparty_detail_has_no_kyc_form_for_ops(make_user, page, records):
    html = page(make_user("ops")).get(url("counterparty-detail", "GALAXY")).content.decode()
    assert 'data-testid="kyc-box"' in html
    assert "Request KYC change" not in html


def test_blocked_counterparty_says_it_cannot_transact(make_user, page):
    CounterpartyFactory(code="OLD", kyc_status="approved", kyc_expires_on=today() - timedelta(2))
    html = page(make_user("ops")).get(url("counterparty-detail", "OLD")).content.decode()
    assert "Cannot transact" in html
    assert "expired 2 d ago" in html


# --- create and edit --------------------------------------------------------------------


def test_create_asset_writes_through_the_service(make_user, page):
    ops = make_user("ops")
    resp = page(ops).post(
        url("asset-create"),
        {
            "symbol": "usdc",
            "name": "USD Coin",
            "decimals": "6",
            "is_stablecoin": "on",
            "chains": "Ethereum, solana, ethereum",
            "is_active": "on",
            "reason": "listing",
        },
    )
    assert resp.status_code == 302
    assert resp["Location"] == url("asset-detail", "USDC")
    asset = Asset.objects.get(symbol="USDC")
    assert asset.decimals == 6 and asset.is_stablecoin and asset.chains == ["ethereum", "solana"]
    version = asset.history.first()
    assert version.history_user == ops
    assert version.history_change_reason == "listing"


def test_invalid_asset_shows_field_errors_and_writes_nothing(make_user, page):
    resp = page(make_user("ops")).post(
        url("asset-create"), {"symbol": "bt c", "name": "", "decimals": "19"}
    )
    assert resp.status_code == 200
    form = resp.context["form"]
    assert set(form.errors) == {"symbol", "name", "decimals"}
    assert 'class="errorlist"' in resp.content.decode()
    assert not Asset.objects.exists()


def test_service_errors_appear_next_to_their_field(make_user, page, records):
    client = page(make_user("ops"))
    resp = client.post(url("asset-create"), {"symbol": "BTC", "name": "Again", "decimals": "8"})
    assert resp.status_code == 200
    assert "symbol" in resp.context["form"].errors
    assert Asset.objects.filter(symbol="BTC").count() == 1
    resp = client.post(
        url("counterparty-create"),
        {
            "code": "NEWCO",
            "name": "New Co",
            "kind": "fund",
            "jurisdiction": "gb",
            "lei": BAD_CHECK_DIGITS_LEI,
            "risk_rating": "low",
        },
    )
    assert resp.status_code == 200
    assert "Not a valid LEI" in resp.context["form"].errors["lei"][0]
    assert not Counterparty.objects.filter(code="NEWCO").exists()


def test_create_counterparty_starts_with_kyc_pending(make_user, page):
    resp = page(make_user("compliance")).post(
        url("counterparty-create"),
        {
            "code": "NEWCO",
            "name": "New Co Ltd",
            "kind": "fund",
            "jurisdiction": "gb",
            "lei": VALID_LEI,
            "risk_rating": "low",
            "is_active": "on",
        },
    )
    assert resp.status_code == 302
    cp = Counterparty.objects.get(code="NEWCO")
    assert cp.kyc_status == "pending" and cp.jurisdiction == "GB" and cp.lei == VALID_LEI


def test_create_venue_and_desk(make_user, page):
    client = page(make_user("admin"))
    resp = client.post(
        url("venue-create"),
        {"code": "BITGO", "name": "BitGo", "kind": "custodian", "status": "active"},
    )
    assert resp.status_code == 302
    assert Venue.objects.get(code="BITGO").kind == "custodian"
    resp = client.post(
        url("desk-create"), {"code": "DELTA1", "name": "Delta one", "risk_profile": "low"}
    )
    assert resp.status_code == 302
    assert Desk.objects.get(code="DELTA1").risk_profile == "low"


def test_edit_cannot_change_the_code(make_user, page, records):
    client = page(make_user("ops"))
    form = client.get(url("venue-edit", "DERIBIT")).context["form"]
    assert "code" not in form.fields
    resp = client.post(
        url("venue-edit", "DERIBIT"),
        {"code": "OTHER", "name": "Deribit", "kind": "exchange", "status": "suspended"},
    )
    assert resp.status_code == 302
    venue = Venue.objects.get(pk=records["venue"].pk)
    assert venue.code == "DERIBIT" and venue.status == "suspended"


def test_edit_asset_passes_the_reason_to_the_history(make_user, page, records):
    resp = page(make_user("ops")).post(
        url("asset-edit", "BTC"),
        {
            "name": "Bitcoin",
            "decimals": "8",
            "chains": "bitcoin, lightning",
            "is_active": "on",
            "reason": "add lightning",
        },
    )
    assert resp.status_code == 302
    asset = Asset.objects.get(symbol="BTC")
    assert asset.chains == ["bitcoin", "lightning"]
    assert asset.history.first().history_change_reason == "add lightning"


def test_counterparty_edit_has_no_kyc_fields_and_ignores_them(make_user, page, records):
    client = page(make_user("compliance"))
    form = client.get(url("counterparty-edit", "GALAXY")).context["form"]
    assert "kyc_status" not in form.fields and "kyc_expires_on" not in form.fields
    resp = client.post(
        url("counterparty-edit", "GALAXY"),
        {
            "name": "Galaxy Digital Holdings",
            "kind": "fund",
            "jurisdiction": "US",
            "risk_rating": "medium",
            "is_active": "on",
            "kyc_status": "rejected",
            "kyc_expires_on": "",
        },
    )
    assert resp.status_code == 302
    cp = Counterparty.objects.get(code="GALAXY")
    assert cp.name == "Galaxy Digital Holdings" and cp.jurisdiction == "US"
    assert cp.kyc_status == "approved"


def test_invalid_edit_writes_nothing(make_user, page, records):
    resp = page(make_user("ops")).post(
        url("counterparty-edit", "GALAXY"),
        {"name": "X", "kind": "fund", "jurisdiction": "G1", "risk_rating": "medium"},
    )
    assert resp.status_code == 200
    assert "jurisdiction" in resp.context["form"].errors
    assert Counterparty.objects.get(code="GALAXY").name == "Galaxy Digital LLC"
    assert Counterparty.history.filter(code="GALAXY").count() == 1


# --- KYC change requests ----------------------------------------------------------------


def test_kyc_change_creates_a_pending_approval_and_leaves_the_counterparty(make_user, page):
    cp = CounterpartyFactory(code="NORTHSTAR", kyc_status="pending", kyc_expires_on=None)
    maker = make_user("compliance")
    expiry = today() + timedelta(days=365)
    resp = page(maker).post(
        url("counterparty-kyc", "NORTHSTAR"),
        {"kyc_status": "approved", "kyc_expires_on": expiry.isoformat(), "reason": "CDD done"},
        follow=True,
    )
    approval = ApprovalRequest.objects.get()
    assert resp.redirect_chain[-1][0] == url("counterparty-detail", "NORTHSTAR")
    assert f"KYC change sent for approval (#{approval.pk})" in resp.content.decode()
    assert approval.status == "pending" and approval.maker == maker
    assert approval.payload["kyc_status"] == "approved"
    assert approval.reason == "CDD done"
    cp.refresh_from_db()
    assert cp.kyc_status == "pending" and cp.kyc_expires_on is None
    # The pending request is listed on the counterparty, with a link to it.
    assert reverse("approvals:detail", args=[approval.pk]) in resp.content.decode()


def test_a_second_kyc_change_while_one_waits_is_refused_with_a_message(make_user, page):
    CounterpartyFactory(code="NORTHSTAR", kyc_status="pending", kyc_expires_on=None)
    client = page(make_user("compliance"))
    kyc_url = url("counterparty-kyc", "NORTHSTAR")
    client.post(kyc_url, {"kyc_status": "rejected", "reason": "no documents"})
    resp = client.post(kyc_url, {"kyc_status": "restricted", "reason": "sanctions hit"})
    assert resp.status_code == 400
    assert "already has a KYC change waiting for approval" in resp.content.decode()
    assert ApprovalRequest.objects.count() == 1


def test_invalid_kyc_change_shows_the_field_error_and_creates_nothing(make_user, page):
    CounterpartyFactory(code="NORTHSTAR", kyc_status="pending", kyc_expires_on=None)
    client = page(make_user("compliance"))
    resp = client.post(
        url("counterparty-kyc", "NORTHSTAR"), {"kyc_status": "approved", "reason": "done"}
    )
    assert resp.status_code == 400
    assert "kyc_expires_on" in resp.context["kyc_form"].errors
    # A date in the past passes the form; the service refuses it, on the same field.
    past = (today() - timedelta(days=3)).isoformat()
    resp = client.post(
        url("counterparty-kyc", "NORTHSTAR"),
        {"kyc_status": "approved", "kyc_expires_on": past, "reason": "done"},
    )
    assert resp.status_code == 400
    assert "in the past" in resp.context["kyc_form"].errors["kyc_expires_on"][0]
    resp = client.post(url("counterparty-kyc", "NORTHSTAR"), {"kyc_status": "approved"})
    assert "reason" in resp.context["kyc_form"].errors
    assert not ApprovalRequest.objects.exists()


def test_kyc_change_to_the_same_status_is_refused_by_the_service(make_user, page):
    CounterpartyFactory(code="REJ", kyc_status="rejected", kyc_expires_on=None)
    resp = page(make_user("compliance")).post(
        url("counterparty-kyc", "REJ"), {"kyc_status": "rejected", "reason": "again"}
    )
    assert resp.status_code == 400
    assert "already" in resp.context["kyc_form"].errors["kyc_status"][0]
    assert not ApprovalRequest.objects.exists()


def test_get_on_the_kyc_url_goes_to_the_counterparty(make_user, page, records):
    resp = page(make_user("compliance")).get(url("counterparty-kyc", "GALAXY"))
    assert resp.status_code == 302
    assert resp["Location"] == url("counterparty-detail", "GALAXY")


# --- Django admin -----------------------------------------------------------------------


def test_admin_shows_reference_data_and_approvals_read_only(make_user, page, records):
    client = page(make_user("admin", is_staff=True, is_superuser=True))
    cp = records["counterparty"]
    for path in (
        reverse("admin:refdata_counterparty_changelist"),
        reverse("admin:refdata_counterparty_change", args=[cp.pk]),
        reverse("admin:refdata_counterparty_history", args=[cp.pk]),
        reverse("admin:refdata_asset_changelist"),
        reverse("admin:approvals_approvalrequest_changelist"),
        reverse("admin:approvals_approvalpolicy_changelist"),
        reverse("admin:approvals_approvaldecision_changelist"),
    ):
        assert client.get(path).status_code == 200, path
    assert client.get(reverse("admin:refdata_counterparty_add")).status_code == 403
    resp = client.post(
        reverse("admin:refdata_counterparty_change", args=[cp.pk]),
        {
            "code": "GALAXY",
            "name": "Galaxy",
            "kind": "fund",
            "jurisdiction": "GB",
            "risk_rating": "low",
            "kyc_status": "rejected",
        },
    )
    assert resp.status_code == 403
    assert Counterparty.objects.get(pk=cp.pk).kyc_status == "approved"


def test_trading_users_see_pending_kyc_changes_without_links_to_approvals(make_user, page):
    cp = CounterpartyFactory(code="WAIT", kyc_status="pending", kyc_expires_on=None)
    page(make_user("compliance")).post(
        url("counterparty-kyc", cp.code), {"kyc_status": "rejected", "reason": "no documents"}
    )
    approval = ApprovalRequest.objects.get()
    client = page(make_user("trading"))
    for path in (url("counterparty-list"), url("counterparty-detail", "WAIT")):
        html = client.get(path).content.decode()
        assert reverse("approvals:detail", args=[approval.pk]) not in html
    assert f"#{approval.pk}" in client.get(url("counterparty-detail", "WAIT")).content.decode()
