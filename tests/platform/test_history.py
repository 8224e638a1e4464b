"""The audit trail: every service write leaves a history row (who, why, what changed) and one
activity entry; logins, logouts, failures, lockouts and token use leave AuthEvents."""

from __future__ import annotations

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from financing import clock
from financing.accounts.roles import Role
from financing.audit.models import ActivityEntry, AuthEvent
from financing.audit.selectors import record_as_of, record_timeline
from financing.errors import NotFound
from financing.refdata import services
from financing.refdata.models import Asset, Counterparty, Desk, Venue
from tests.factories import AssetFactory, CounterpartyFactory

PASSWORD = "pw-for-tests-2026"  # tests.factories.UserFactory's password


@pytest.fixture
def ops(make_user):
    return make_user(Role.OPS, username="ops-history")


@pytest.fixture
def admin(make_user):
    return make_user(Role.ADMIN, username="admin-history")


def _activity_for(history_row) -> ActivityEntry:
    model = history_row.instance_type
    return ActivityEntry.objects.get(
        app_label=model._meta.app_label,
        model=model._meta.model_name,
        history_id=history_row.history_id,
    )


def test_service_writes_stamp_history_with_user_and_reason(ops, admin):
    asset = services.asset_create(
        actor=ops, symbol="eth", name="Ether", decimals=18, reason="new listing"
    )
    services.asset_update(actor=admin, asset=asset, name="Ether (PoS)", reason="rename")

    created, changed = asset.history.order_by("history_date", "history_id")
    assert (created.history_type, created.history_user, created.history_change_reason) == (
        "+",
        ops,
        "new listing",
    )
    assert (changed.history_type, changed.history_user, changed.history_change_reason) == (
        "~",
        admin,
        "rename",
    )
    assert (created.name, changed.name) == ("Ether", "Ether (PoS)")


def test_a_write_without_a_reason_gets_a_default_one(ops):
    desk = services.desk_create(actor=ops, code="NEWD", name="New desk")
    assert desk.history.get().history_change_reason == "desk created"


@pytest.mark.parametrize(
    ("create", "update", "model", "changes"),
    [
        (
            lambda a: services.asset_create(actor=a, symbol="SOL", name="Solana", decimals=9),
            lambda a, o: services.asset_update(actor=a, asset=o, decimals=8, is_stablecoin=True),
            Asset,
            {"decimals", "is_stablecoin"},
        ),
        (
            lambda a: services.venue_create(actor=a, code="OKX", name="OKX", kind="exchange"),
            lambda a, o: services.venue_update(actor=a, venue=o, status="suspended"),
            Venue,
            {"status"},
        ),
        (
            lambda a: services.desk_create(actor=a, code="BASIS", name="Basis"),
            lambda a, o: services.desk_update(actor=a, desk=o, risk_profile="high"),
            Desk,
            {"risk_profile"},
        ),
        (
            lambda a: services.counterparty_create(
                actor=a,
                code="GALAXY",
                name="Galaxy",
                kind="fund",
                jurisdiction="US",
                risk_rating="medium",
            ),
            lambda a, o: services.counterparty_update(
                actor=a, counterparty=o, risk_rating="high", name="Galaxy Digital"
            ),
            Counterparty,
            {"risk_rating", "name"},
        ),
    ],
    ids=["asset", "venue", "desk", "counterparty"],
)
def test_each_history_row_produces_one_activity_entry_with_changed_fields(
    admin, create, update, model, changes
):
    obj = create(admin)
    update(admin, obj)

    rows = list(obj.history.order_by("history_date", "history_id"))
    assert len(rows) == 2
    entries = [_activity_for(r) for r in rows]
    assert (
        ActivityEntry.objects.filter(
            app_label=model._meta.app_label, model=model._meta.model_name
        ).count()
        == 2
    )
    assert [e.kind for e in entries] == ["+", "~"]
    assert all(e.user == admin and e.object_id == str(obj.pk) for e in entries)
    assert entries[0].changed_fields == []
    assert set(entries[1].changed_fields) == changes
    assert entries[1].reason == rows[1].history_change_reason


def test_history_endpoint_lists_versions_with_changes(api, ops, admin):
    asset = services.asset_create(actor=ops, symbol="ETH", name="Ether", decimals=18)
    api(admin).patch("/api/assets/eth/", {"name": "Ether (PoS)"}, format="json")

    resp = api(ops).get("/api/assets/ETH/history/")

    assert resp.status_code == 200
    body = resp.json()
    assert body["count"] == 2
    created, changed = body["results"]
    assert (created["type"], created["user"], created["reason"]) == (
        "created",
        ops.username,
        "asset created",
    )
    assert {c["field"] for c in created["changes"]} >= {"symbol", "name", "decimals"}
    assert changed["type"] == "changed"
    assert changed["user"] == admin.username  # the API stamps the token's user
    assert changed["changes"] == [
        {"field": "name", "label": "name", "old": "Ether", "new": "Ether (PoS)"}
    ]
    assert changed["at"] >= created["at"]
    assert asset.history.count() == 2


def test_history_endpoint_is_paginated_like_every_list(api, ops, admin):
    asset = services.asset_create(actor=ops, symbol="PGN", name="v0", decimals=8)
    for i in range(1, 4):
        services.asset_update(actor=admin, asset=asset, name=f"v{i}")
    client = api(ops)

    first = client.get("/api/assets/PGN/history/", {"page_size": 3}).json()
    second = client.get("/api/assets/PGN/history/", {"page_size": 3, "page": 2}).json()

    assert set(first) == {"count", "next", "previous", "results"}
    assert first["count"] == 4 and first["previous"] is None and "page=2" in first["next"]
    assert [v["type"] for v in first["results"]] == ["created", "changed", "changed"]
    assert second["next"] is None and second["previous"] is not None
    [last] = second["results"]
    assert last["changes"] == [{"field": "name", "label": "name", "old": "v2", "new": "v3"}]
    assert client.get("/api/assets/PGN/history/", {"page": 9}).status_code == 404


@pytest.mark.parametrize("key", ["NOPE", "abc", "%20", "-1", "99999999999999999999999"])
def test_history_of_an_unknown_record_is_404(api, make_user, key):
    AssetFactory(symbol="KEY")
    resp = api(make_user(Role.AUDITOR)).get(f"/api/assets/{key}/history/")
    assert resp.status_code == 404 and "detail" in resp.json()


@pytest.mark.parametrize(
    "pk", ["abc", "1.5", "", " ", "1; DROP TABLE x", "99999999999999999999999"]
)
def test_a_key_that_is_not_a_record_id_is_not_found_never_a_server_error(db, pk):
    AssetFactory(symbol="KEY")
    with pytest.raises(NotFound):
        record_timeline(Asset, pk)
    if pk.strip() and not pk.isdigit():
        with pytest.raises(NotFound):
            record_as_of(Asset, pk, clock.now())


def test_record_timeline_reads_a_key_given_as_text_or_number(db):
    asset = AssetFactory(symbol="KEY")
    assert record_timeline(Asset, str(asset.pk)) == record_timeline(Asset, asset.pk)
    assert record_as_of(Asset, f"{asset.pk}", clock.now())["version_at"]


@pytest.mark.parametrize("pk", ["abc", "1.5", "99999999999999999999999"])
def test_record_page_with_a_bad_key_is_404(page, make_user, pk):
    AssetFactory(symbol="KEY")
    assert page(make_user(Role.AUDITOR)).get(f"/audit/refdata/asset/{pk}/").status_code == 404


def test_counterparty_fields_are_labelled_in_the_desks_words(api, ops, make_user):
    labels = {f.name: str(f.verbose_name) for f in Counterparty._meta.fields}
    assert (labels["kyc_status"], labels["kyc_expires_on"], labels["lei"]) == (
        "KYC status",
        "KYC expires on",
        "LEI",
    )
    cp = CounterpartyFactory(code="LBL")
    services.counterparty_update(
        actor=ops, counterparty=cp, lei="5493001KJTIIGC8Y1R12", reason="lei"
    )
    body = api(make_user(Role.AUDITOR)).get("/api/counterparties/LBL/history/").json()
    created, changed = body["results"]
    assert {c["field"]: c["label"] for c in created["changes"]}["kyc_status"] == "KYC status"
    assert changed["changes"] == [
        {"field": "lei", "label": "LEI", "old": "", "new": "5493001KJTIIGC8Y1R12"}
    ]


def test_activity_feed_filters_by_user_and_model(api, ops, admin, make_user):
    services.asset_create(actor=ops, symbol="ETH", name="Ether", decimals=18)
    services.desk_create(actor=admin, code="NEWD", name="New desk")
    auditor = api(make_user(Role.AUDITOR))

    mine = auditor.get("/api/audit/activity/", {"user": ops.username}).json()
    desks = auditor.get("/api/audit/activity/", {"model": "refdata.desk"}).json()

    assert [(r["model"], r["object_repr"]) for r in mine["results"]] == [("refdata.asset", "ETH")]
    assert [(r["model"], r["user"]) for r in desks["results"]] == [("refdata.desk", admin.username)]
    assert auditor.get("/api/audit/activity/", {"model": "no dots"}).status_code == 400


# --- authentication events ------------------------------------------------------------------


def _events(kind, **filters):
    return list(AuthEvent.objects.filter(kind=kind, **filters))


def test_login_and_logout_through_the_pages_are_recorded(client, ops):
    resp = client.post("/accounts/login/", {"username": ops.username, "password": PASSWORD})
    assert resp.status_code == 302
    assert "_auth_user_id" in client.session

    client.post("/accounts/logout/")

    [login] = _events("login")
    [logout] = _events("logout")
    assert login.user == ops and logout.user == ops
    assert login.path == "/accounts/login/" and login.method == "POST"
    assert login.ip_address == "127.0.0.1"
    assert "_auth_user_id" not in client.session


def test_a_failed_login_is_recorded_with_the_username(client, ops):
    resp = client.post("/accounts/login/", {"username": ops.username, "password": "wrong"})

    assert resp.status_code == 200  # the form again, with an error
    assert "_auth_user_id" not in client.session
    [failed] = _events("login_failed")
    assert failed.username == ops.username
    assert failed.user is None
    assert _events("login") == []


def test_token_issue_and_use_are_recorded(ops):
    client = APIClient()
    resp = client.post(
        "/api/auth/token/", {"username": ops.username, "password": PASSWORD}, format="json"
    )
    assert resp.status_code == 200
    client.credentials(HTTP_AUTHORIZATION=f"Token {resp.json()['token']}")

    assert client.get("/api/me/").status_code == 200

    [issued] = _events("token_issued")
    [used] = _events("token_used")
    assert issued.user == ops and used.user == ops
    assert used.path == "/api/me/" and used.method == "GET"


def _fail(client, username, times):
    for _ in range(times):
        client.post("/accounts/login/", {"username": username, "password": "wrong-password"})


def test_after_the_failure_limit_the_account_is_locked_everywhere(client, ops):
    assert settings.AXES_FAILURE_LIMIT == 5
    _fail(client, ops.username, settings.AXES_FAILURE_LIMIT)

    page = client.post("/accounts/login/", {"username": ops.username, "password": PASSWORD})
    token = APIClient().post(
        "/api/auth/token/", {"username": ops.username, "password": PASSWORD}, format="json"
    )

    assert page.status_code == 429  # the lockout page, not a redirect into the dashboard
    assert "_auth_user_id" not in client.session
    assert _events("login") == []
    assert token.status_code in (401, 429)
    assert "token" not in token.json()
    assert "locked" in token.json()["detail"]
    assert _events("token_issued") == []
    assert len(_events("login_failed", username=ops.username)) >= settings.AXES_FAILURE_LIMIT
    assert _events("locked_out", username=ops.username)


def test_below_the_failure_limit_the_right_password_still_works(client, ops):
    _fail(client, ops.username, settings.AXES_FAILURE_LIMIT - 1)

    resp = client.post("/accounts/login/", {"username": ops.username, "password": PASSWORD})

    assert resp.status_code == 302
    assert _events("locked_out") == []
    assert [e.user for e in _events("login")] == [ops]


def test_failed_token_requests_count_toward_the_lockout(ops):
    client = APIClient()
    for _ in range(settings.AXES_FAILURE_LIMIT):
        bad = client.post(
            "/api/auth/token/", {"username": ops.username, "password": "nope"}, format="json"
        )
        assert bad.status_code in (401, 429)

    good = client.post(
        "/api/auth/token/", {"username": ops.username, "password": PASSWORD}, format="json"
    )

    assert good.status_code in (401, 429)
    assert "token" not in good.json()
    assert _events("locked_out", username=ops.username)
