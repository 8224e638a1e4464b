from __future__ import annotations

import pytest
from django.test import Client
from django.utils import timezone

from financing.audit.models import ActivityEntry, AuthEvent
from financing.audit.selectors import record_as_of, record_timeline
from financing.errors import NotFound
from financing.refdata.models import Asset
from financing.refdata.services import asset_create, asset_update
from tests.factories import AssetFactory, UserFactory

PW = "pw-for-tests-2026"


@pytest.mark.django_db
def test_service_changes_keep_who_and_why_and_feed_the_activity(api):
    ops = UserFactory(role="ops")
    asset = asset_create(actor=ops, symbol="HIST", name="History", decimals=8, reason="listing")
    asset_update(actor=ops, asset=asset, name="History token", reason="rename per issuer")
    versions = list(asset.history.order_by("history_date"))
    assert [(v.history_user, v.history_change_reason) for v in versions] == [
        (ops, "listing"),
        (ops, "rename per issuer"),
    ]
    entries = list(ActivityEntry.objects.filter(model="asset").order_by("at"))
    assert [e.kind for e in entries] == ["+", "~"]
    assert entries[1].changed_fields == ["name"] and entries[1].user == ops

    body = api(UserFactory(role="auditor")).get("/api/assets/HIST/history/").json()
    assert body["count"] == 2
    change = body["results"][1]
    assert change["user"] == ops.username and change["reason"] == "rename per issuer"
    assert change["changes"] == [
        {"field": "name", "label": "name", "old": "History", "new": "History token"}
    ]

    feed = (
        api(UserFactory(role="auditor"))
        .get(f"/api/audit/activity/?user={ops.username}&model=refdata.asset")
        .json()
    )
    assert feed["count"] == 2


@pytest.mark.django_db
def test_logins_logouts_failures_and_token_use_are_recorded(api):
    user = UserFactory(username="logger", role="ops")
    client = Client()
    client.post("/accounts/login/", {"username": "logger", "password": "wrong"})
    resp = client.post("/accounts/login/", {"username": "logger", "password": PW})
    assert resp.status_code == 302
    client.post("/accounts/logout/")
    token = APIClientToken(api, "logger")
    api_client = api()
    api_client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    api_client.get("/api/me/")
    kinds = list(
        AuthEvent.objects.filter(username="logger")
        .order_by("at", "id")
        .values_list("kind", flat=True)
    )
    assert kinds == ["login_failed", "login", "logout", "token_issued", "token_used"]
    used = AuthEvent.objects.get(kind="token_used")
    assert used.user == user and used.path == "/api/me/" and used.method == "GET"


def APIClientToken(api, username):
    resp = api().post("/api/auth/token/", {"username": username, "password": PW}, format="json")
    assert resp.status_code == 200
    return resp.json()["token"]


@pytest.mark.django_db
def test_repeated_failures_lock_the_account(api, settings):
    UserFactory(username="target", role="ops")
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post("/accounts/login/", {"username": "target", "password": "nope"})
    resp = client.post("/accounts/login/", {"username": "target", "password": PW})
    assert resp.status_code == 429 or b"Too many failed logins" in resp.content
    assert "_auth_user_id" not in client.session
    token = api().post("/api/auth/token/", {"username": "target", "password": PW}, format="json")
    assert token.status_code in (401, 429) and "token" not in token.json()
    assert AuthEvent.objects.filter(kind="locked_out", username="target").exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "pk", ["abc", "1.5", "", " ", "1; DROP TABLE x", "99999999999999999999999"]
)
def test_a_key_that_is_not_a_record_id_is_not_found_never_a_server_error(pk):
    AssetFactory(symbol="KEY")
    with pytest.raises(NotFound):
        record_timeline(Asset, pk)
    if pk.strip() and not pk.isdigit():
        with pytest.raises(NotFound):
            record_as_of(Asset, pk, timezone.now())


@pytest.mark.django_db
def test_record_timeline_reads_a_key_given_as_text_or_number():
    asset = AssetFactory(symbol="KEY")
    assert record_timeline(Asset, str(asset.pk)) == record_timeline(Asset, asset.pk)
    assert record_as_of(Asset, f"{asset.pk}", timezone.now())["version_at"]


@pytest.mark.django_db
@pytest.mark.parametrize("key", ["NOPE", "abc", "%20", "-1", "99999999999999999999999"])
def test_api_history_with_a_bad_key_is_404(api, key):
    AssetFactory(symbol="KEY")
    resp = api(UserFactory(role="auditor")).get(f"/api/assets/{key}/history/")
    assert resp.status_code == 404 and "detail" in resp.json()


@pytest.mark.django_db
@pytest.mark.parametrize("pk", ["abc", "1.5", "99999999999999999999999"])
def test_record_page_with_a_bad_key_is_404(page, pk):
    AssetFactory(symbol="KEY")
    assert page(UserFactory(role="auditor")).get(f"/audit/refdata/asset/{pk}/").status_code == 404


@pytest.mark.django_db
def test_counterparty_fields_are_labelled_in_the_desks_words(api):
    from financing.refdata.models import Counterparty
    from financing.refdata.services import counterparty_update
    from tests.factories import CounterpartyFactory

    labels = {f.name: str(f.verbose_name) for f in Counterparty._meta.fields}
    assert (labels["kyc_status"], labels["kyc_expires_on"], labels["lei"]) == (
        "KYC status",
        "KYC expires on",
        "LEI",
    )
    cp = CounterpartyFactory(code="LBL")
    counterparty_update(
        actor=UserFactory(role="ops"), counterparty=cp, lei="5493001KJTIIGC8Y1R12", reason="lei"
    )
    body = api(UserFactory(role="auditor")).get("/api/counterparties/LBL/history/").json()
    created, changed = body["results"]
    assert {c["field"]: c["label"] for c in created["changes"]}["kyc_status"] == "KYC status"
    assert changed["changes"] == [
        {"field": "lei", "label": "LEI", "old": "", "new": "5493001KJTIIGC8Y1R12"}
    ]
