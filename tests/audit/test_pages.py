"""Auditor pages: who may read them, a record's timeline and the record as of a time, the
activity feed's filters and exports (exactly the filtered rows), logins, bounded queries, and
a Django admin that can read the trail but never write it."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import pytest
from django.contrib import admin
from django.db import connection
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from financing.api.models import IdempotencyKey
from financing.audit.models import ActivityEntry, AuthEvent
from financing.audit.views import parse_as_of
from financing.jobs.models import JobRun
from financing.refdata.services import asset_create, asset_update, venue_create
from tests.factories import DeskFactory, VenueFactory

pytestmark = pytest.mark.django_db

ACTIVITY = reverse("audit:activity")
AUTH_EVENTS = reverse("audit:auth-events")


def record_url(obj) -> str:
    return reverse("audit:record", args=[obj._meta.app_label, obj._meta.model_name, obj.pk])


def csv_rows(resp) -> list[list[str]]:
    body = b"".join(resp.streaming_content) if resp.streaming else resp.content
    return list(csv.reader(io.StringIO(body.decode("utf-8"))))


@pytest.fixture
def renamed_asset(make_user):
    """An asset created by one ops user and renamed by another, through the services."""
    maker = make_user("ops", username="olivia")
    editor = make_user("ops", username="oscar")
    asset = asset_create(
        actor=maker, symbol="AUDT", name="Audit token", decimals=8, reason="listing approved"
    )
    asset_update(actor=editor, asset=asset, name="Audit token v2", reason="issuer rebrand")
    return asset


# --- access -----------------------------------------------------------------------------------


def test_anonymous_users_are_sent_to_the_login_page(client, renamed_asset):
    for url in (ACTIVITY, AUTH_EVENTS, record_url(renamed_asset)):
        resp = client.get(url)
        assert resp.status_code == 302, url
        assert resp["Location"].startswith(reverse("accounts:login")), url


def test_trading_desk_users_may_not_read_the_audit_trail(page, make_user, renamed_asset):
    client = page(make_user("trading"))
    for url in (ACTIVITY, AUTH_EVENTS, record_url(renamed_asset), f"{ACTIVITY}?export=csv"):
        assert client.get(url).status_code == 403, url


def test_logins_are_for_auditors_admins_and_compliance_only(page, make_user):
    assert page(make_user("ops")).get(AUTH_EVENTS).status_code == 403
    assert page(make_user("risk")).get(AUTH_EVENTS).status_code == 403
    for role in ("auditor", "admin", "compliance"):
        assert page(make_user(role)).get(AUTH_EVENTS).status_code == 200, role


def test_auditors_read_every_page(page, make_user, renamed_asset):
    client = page(make_user("auditor"))
    for url in (ACTIVITY, AUTH_EVENTS, record_url(renamed_asset)):
        assert client.get(url).status_code == 200, url


# --- a record's timeline ---------------------------------------------------------------------


def test_timeline_shows_who_when_why_and_the_old_and_new_values(page, make_user, renamed_asset):
    resp = page(make_user("auditor")).get(record_url(renamed_asset))
    html = resp.content.decode()
    assert resp.status_code == 200
    versions = resp.context["versions"]
    assert [v["type"] for v in versions] == ["changed", "created"]  # newest first
    assert [v["user"] for v in versions] == ["oscar", "olivia"]
    assert [v["reason"] for v in versions] == ["issuer rebrand", "listing approved"]
    assert [(c["field"], c["old"], c["new"]) for c in versions[0]["changes"]] == [
        ("name", "Audit token", "Audit token v2")
    ]
    assert '<del class="diff-old">Audit token</del>' in html
    assert '<ins class="diff-new">Audit token v2</ins>' in html
    assert "oscar" in html and "issuer rebrand" in html and "listing approved" in html
    assert html.index("issuer rebrand") < html.index("listing approved")


def test_as_of_before_the_change_shows_the_old_value_and_after_it_the_new(
    page, make_user, renamed_asset
):
    client = page(make_user("auditor"))
    created, renamed = renamed_asset.history.order_by("history_date", "history_id")

    def name_as_of(at):
        resp = client.get(record_url(renamed_asset), {"as_of": at.isoformat()})
        assert resp.status_code == 200
        record = resp.context["as_of_record"]
        return {f["field"]: f["value"] for f in record["fields"]}["name"]

    assert name_as_of(created.history_date) == "Audit token"
    assert name_as_of(renamed.history_date - timedelta(microseconds=1)) == "Audit token"
    assert name_as_of(renamed.history_date) == "Audit token v2"
    assert name_as_of(renamed.history_date + timedelta(days=1)) == "Audit token v2"
    assert name_as_of(datetime(9999, 12, 31, 23, 59, tzinfo=UTC)) == "Audit token v2"

    resp = client.get(
        record_url(renamed_asset),
        {"as_of": (created.history_date - timedelta(hours=1)).isoformat()},
    )
    assert resp.context["as_of_record"] is None
    assert "did not exist yet" in resp.content.decode()


def test_as_of_from_a_datetime_local_input_is_read_as_utc(page, make_user, renamed_asset):
    renamed = renamed_asset.history.order_by("-history_date").first()
    later = renamed.history_date + timedelta(minutes=1)
    resp = page(make_user("auditor")).get(
        record_url(renamed_asset), {"as_of": later.strftime("%Y-%m-%dT%H:%M")}
    )
    assert resp.context["as_of"].utcoffset() == timedelta(0)
    assert resp.context["as_of"].strftime("%Y-%m-%dT%H:%M") == later.strftime("%Y-%m-%dT%H:%M")
    assert resp.context["as_of_record"]["version_user"] == "oscar"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-03-01T14:30", "2026-03-01T14:30:00+00:00"),
        ("2026-03-01T14:30:05", "2026-03-01T14:30:05+00:00"),
        ("2026-03-01 14:30", "2026-03-01T14:30:00+00:00"),
        ("2026-03-01", "2026-03-01T00:00:00+00:00"),
        ("2026-03-01T14:30:00Z", "2026-03-01T14:30:00+00:00"),
        ("2026-03-01T16:30:00+02:00", "2026-03-01T14:30:00+00:00"),
        # a "+" that a query string decoded into a space
        ("2026-03-01T16:30:00 02:00", "2026-03-01T14:30:00+00:00"),
    ],
)
def test_as_of_accepts_iso_times_and_reads_them_as_utc(text, expected):
    assert parse_as_of(text).isoformat() == expected


@pytest.mark.parametrize(
    "bad",
    ["yesterday", "2026-13-01T00:00", "2026-02-30", "14:30", "0", "0001-01-01T00:00:00+05:00"],
)
def test_a_malformed_as_of_is_an_error_on_the_page_not_a_500(page, make_user, renamed_asset, bad):
    resp = page(make_user("auditor")).get(record_url(renamed_asset), {"as_of": bad})
    assert resp.status_code == 200
    assert "is not a date and time" in resp.context["as_of_error"]
    assert 'data-testid="as-of-error"' in resp.content.decode()
    assert "as_of_record" not in resp.context


def test_unknown_models_and_records_are_404(page, make_user, renamed_asset):
    client = page(make_user("auditor"))
    for args in (
        ["nope", "nothing", "1"],
        ["audit", "activityentry", "1"],  # a model without history
        ["refdata", "asset", str(renamed_asset.pk + 1000)],
        ["refdata", "asset", "not-a-number"],
    ):
        assert client.get(reverse("audit:record", args=args)).status_code == 404, args


def test_timeline_export_is_one_row_per_changed_field(page, make_user, renamed_asset):
    resp = page(make_user("auditor")).get(record_url(renamed_asset), {"export": "csv"})
    assert resp.status_code == 200
    assert resp["Content-Type"].startswith("text/csv")
    assert "attachment" in resp["Content-Disposition"]
    header, *rows = csv_rows(resp)
    assert header == ["Version at (UTC)", "User", "Reason", "Field", "Old", "New", "Change"]
    changes = [r for r in rows if r[6] == "changed"]
    assert [r[1:] for r in changes] == [
        ["oscar", "issuer rebrand", "name", "Audit token", "Audit token v2", "changed"]
    ]
    created = {r[3]: r for r in rows if r[6] == "created"}
    assert created["symbol"][1:6] == ["olivia", "listing approved", "symbol", "", "AUDT"]
    assert rows.index(changes[0]) > rows.index(created["symbol"])  # oldest first
    assert all(r[0].endswith(" UTC") for r in rows)


def test_the_record_page_links_to_the_live_record(page, make_user, renamed_asset):
    resp = page(make_user("auditor")).get(record_url(renamed_asset))
    assert resp.context["live_url"] == reverse("refdata:asset-detail", args=["AUDT"])


# --- activity feed -----------------------------------------------------------------------------


@pytest.fixture
def mixed_activity(make_user):
    olivia = make_user("ops", username="olivia")
    oscar = make_user("ops", username="oscar")
    asset = asset_create(actor=olivia, symbol="FEED", name="Feed", decimals=6, reason="r1")
    asset_update(actor=oscar, asset=asset, name="Feed token", reason="r2")
    venue_create(actor=oscar, code="OKX", name="OKX", kind="exchange", reason="r3")
    return {"olivia": olivia, "oscar": oscar, "asset": asset}


def entries(resp) -> list[ActivityEntry]:
    return [row["obj"] for row in resp.context["table_rows"]]


def test_activity_lists_every_change_with_a_link_to_the_record(page, make_user, mixed_activity):
    resp = page(make_user("auditor")).get(ACTIVITY, {"model": "refdata.asset"})
    html = resp.content.decode()
    assert [(e.kind, e.user.username) for e in entries(resp)] == [("~", "oscar"), ("+", "olivia")]
    assert record_url(mixed_activity["asset"]) in html
    first = resp.context["table_rows"][0]["cells"]
    texts = [c["text"] for c in first]
    assert texts[1:8] == [
        "oscar",
        "Asset",
        str(mixed_activity["asset"].pk),
        "FEED",
        "Changed",
        "name",
        "r2",
    ]
    assert texts[0].endswith(" UTC")


def test_activity_filters_by_user_and_by_model(page, make_user, mixed_activity):
    client = page(make_user("auditor"))
    by_oscar = entries(client.get(ACTIVITY, {"user": "oscar"}))
    assert by_oscar and {e.user.username for e in by_oscar} == {"oscar"}
    assert {e.model for e in by_oscar} == {"asset", "venue"}

    venues = entries(client.get(ACTIVITY, {"model": "refdata.venue"}))
    assert [(e.model, e.object_repr) for e in venues] == [("venue", "OKX")]

    both = entries(client.get(ACTIVITY, {"user": "olivia", "model": "refdata.asset"}))
    assert [(e.kind, e.reason) for e in both] == [("+", "r1")]

    assert entries(client.get(ACTIVITY, {"user": "nobody"})) == []


def test_activity_filters_by_record_id_kind_and_day(page, make_user, mixed_activity):
    client = page(make_user("auditor"))
    asset = mixed_activity["asset"]
    rows = entries(client.get(ACTIVITY, {"model": "refdata.asset", "object_id": asset.pk}))
    assert len(rows) == 2
    rows = entries(client.get(ACTIVITY, {"model": "refdata.asset", "kind": "~"}))
    assert [e.reason for e in rows] == ["r2"]
    day = ActivityEntry.objects.filter(reason="r2").get().at.date()
    assert len(entries(client.get(ACTIVITY, {"date_from": day, "date_to": day}))) >= 3
    assert entries(client.get(ACTIVITY, {"date_from": day + timedelta(days=1)})) == []
    assert entries(client.get(ACTIVITY, {"date_to": day - timedelta(days=1)})) == []


def test_system_means_changes_no_person_made(page, make_user, mixed_activity):
    VenueFactory(code="SYS")  # a factory save carries no acting user
    rows = entries(page(make_user("auditor")).get(ACTIVITY, {"user": "system"}))
    assert rows and all(e.user_id is None for e in rows)
    assert "SYS" in {e.object_repr for e in rows}


def test_a_filter_that_does_not_validate_shows_and_exports_nothing(page, make_user, mixed_activity):
    client = page(make_user("auditor"))
    resp = client.get(ACTIVITY, {"date_from": "not-a-date"})
    assert resp.status_code == 200 and entries(resp) == []
    assert resp.context["filterset"].errors
    resp = client.get(ACTIVITY, {"date_from": "2026-03-02", "date_to": "2026-03-01"})
    assert entries(resp) == []
    assert "before the start date" in resp.content.decode()
    assert len(csv_rows(client.get(ACTIVITY, {"model": "nope.nope", "export": "csv"}))) == 1


def test_activity_csv_export_is_exactly_the_filtered_rows(page, make_user, mixed_activity):
    client = page(make_user("auditor"))
    resp = client.get(ACTIVITY, {"user": "oscar", "export": "csv"})
    assert resp.status_code == 200
    assert resp["Content-Type"].startswith("text/csv")
    header, *rows = csv_rows(resp)
    assert header == [
        "When (UTC)",
        "User",
        "Record type",
        "Id",
        "Record",
        "Change",
        "Fields changed",
        "Reason",
    ]
    assert sorted((r[1], r[2], r[4], r[5], r[7]) for r in rows) == [
        ("oscar", "Asset", "FEED", "Changed", "r2"),
        ("oscar", "Venue", "OKX", "Created", "r3"),
    ]
    xlsx = client.get(ACTIVITY, {"user": "oscar", "export": "xlsx"})
    assert xlsx.status_code == 200 and xlsx["Content-Type"].startswith("application/vnd.openxml")


def test_activity_runs_a_bounded_number_of_queries(page, make_user, django_assert_max_num_queries):
    client = page(make_user("auditor"))
    actor = make_user("ops")

    def count_queries():
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(ACTIVITY).status_code == 200
        return len(ctx.captured_queries)

    asset_create(actor=actor, symbol="Q0", name="Q0", decimals=8)
    few = count_queries()
    for i in range(1, 30):
        asset = asset_create(actor=actor, symbol=f"Q{i}", name=f"Q{i}", decimals=8)
        asset_update(actor=actor, asset=asset, name=f"Q{i}!", reason="rename")
    assert count_queries() == few
    with django_assert_max_num_queries(10):
        client.get(ACTIVITY)


def test_record_page_runs_a_bounded_number_of_queries(page, make_user, renamed_asset):
    client = page(make_user("auditor"))
    with CaptureQueriesContext(connection) as ctx:
        client.get(record_url(renamed_asset))
    few = len(ctx.captured_queries)
    for i in range(20):
        asset_update(actor=None, asset=renamed_asset, name=f"Name {i}", reason=f"r{i}")
    with CaptureQueriesContext(connection) as ctx:
        resp = client.get(record_url(renamed_asset), {"as_of": "2030-01-01T00:00"})
    assert len(resp.context["versions"]) == 22
    assert len(ctx.captured_queries) <= few + 1  # + the as-of version


# --- logins ----------------------------------------------------------------------------------


def test_auth_events_show_logins_and_failures_and_filter_and_export(client, page, make_user):
    make_user("ops", username="lena")
    client.post(reverse("accounts:login"), {"username": "lena", "password": "wrong"})
    client.post(reverse("accounts:login"), {"username": "lena", "password": "pw-for-tests-2026"})
    client.logout()

    auditor = page(make_user("auditor", username="audrey"))
    resp = auditor.get(AUTH_EVENTS, {"username": "lena"})
    assert resp.status_code == 200
    kinds = [row["obj"].kind for row in resp.context["table_rows"]]
    assert kinds == [AuthEvent.Kind.LOGOUT, AuthEvent.Kind.LOGIN, AuthEvent.Kind.LOGIN_FAILED]
    assert "Failed login" in resp.content.decode()

    failed = auditor.get(AUTH_EVENTS, {"kind": "login_failed"})
    assert [row["obj"].username for row in failed.context["table_rows"]] == ["lena"]

    header, *rows = csv_rows(auditor.get(AUTH_EVENTS, {"username": "LENA", "export": "csv"}))
    assert header[:3] == ["When (UTC)", "Event", "Username"]
    assert [r[1] for r in rows] == ["Logout", "Login", "Failed login"]


def test_auth_events_page_shortens_the_client_but_the_export_keeps_it(page, make_user):
    agent = "Mozilla/5.0 " + "x" * 200
    AuthEvent.objects.create(
        at="2026-03-01T10:00:00Z", kind="login", username="ua", user_agent=agent
    )
    client = page(make_user("auditor"))
    row = client.get(AUTH_EVENTS, {"username": "ua"}).context["table_rows"][0]["cells"]
    assert len(row[-1]["text"]) < 60
    assert csv_rows(client.get(AUTH_EVENTS, {"username": "ua", "export": "csv"}))[1][-1] == agent


# --- Django admin: read, never write ------------------------------------------------------------


@pytest.mark.parametrize("model", [ActivityEntry, AuthEvent, JobRun, IdempotencyKey])
def test_the_admin_reads_the_trail_but_never_writes_it(model, make_user, client):
    superuser = make_user("admin", username="root", is_staff=True, is_superuser=True)
    model_admin = admin.site._registry[model]
    request = RequestFactory().get("/admin/")
    request.user = superuser
    assert model_admin.has_view_permission(request)
    assert not model_admin.has_add_permission(request)
    assert not model_admin.has_change_permission(request)
    assert not model_admin.has_delete_permission(request)
    client.force_login(superuser)
    opts = model._meta
    changelist = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
    assert client.get(changelist).status_code == 200
    add = reverse(f"admin:{opts.app_label}_{opts.model_name}_add")
    assert client.get(add).status_code == 403


def test_activity_link_from_a_record_page_filters_to_that_record(page, make_user, renamed_asset):
    client = page(make_user("auditor"))
    link = client.get(record_url(renamed_asset)).context["activity_url"]
    expected = urlencode({"model": "refdata.asset", "object_id": renamed_asset.pk})
    assert link == f"{ACTIVITY}?{expected}"
    assert len(entries(client.get(link))) == 2


def test_foreign_keys_read_as_the_record_they_point_at(page, make_user):
    desk = DeskFactory(code="DELTA1")
    trader = make_user("trading", username="tess", desk=desk)
    client = page(make_user("auditor"))
    resp = client.get(record_url(trader))
    created = resp.context["versions"][-1]
    desk_change = next(c for c in created["changes"] if c["field"] == "desk")
    assert desk_change["new_text"] == f"DELTA1 (#{desk.pk})"
    as_of = client.get(record_url(trader), {"as_of": "2100-01-01T00:00"}).context["as_of_record"]
    assert {f["field"]: f["text"] for f in as_of["fields"]}["desk"] == f"DELTA1 (#{desk.pk})"
    rows = csv_rows(client.get(record_url(trader), {"export": "csv"}))
    assert [r[5] for r in rows if r[3] == "desk"] == [f"DELTA1 (#{desk.pk})"]


def test_a_save_that_changed_nothing_is_one_quiet_line(page, make_user, renamed_asset):
    from financing.history import save_stamped

    save_stamped(renamed_asset, actor=None, reason="touched")
    resp = page(make_user("auditor")).get(record_url(renamed_asset))
    newest = resp.context["versions"][0]
    assert newest["type"] == "changed" and newest["changes"] == []
    assert "saved with no field changed — touched" in resp.content.decode()
