"""Idempotency-Key on POST (api.md): a retry gets the first response and creates nothing new;
the same key with another body is 409. Keys live in PostgreSQL, per user."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from financing import clock
from financing.accounts.roles import Role
from financing.api.models import IdempotencyKey
from financing.jobs.models import JobRun
from financing.jobs.services import job_run
from financing.refdata.models import Asset
from tests.conftest import run_in_threads
from tests.factories import UserFactory

BODY = {"symbol": "IDEM", "name": "Idempotent coin", "decimals": 6}


def _post(client, body, key, path="/api/assets/"):
    return client.post(path, body, format="json", HTTP_IDEMPOTENCY_KEY=key)


@pytest.fixture
def ops(make_user):
    return make_user(Role.OPS, username="ops-idem")


def test_retry_with_the_same_key_and_body_replays_the_first_response(api, ops, counts):
    client = api(ops)

    first = _post(client, BODY, "key-1")
    after_first = counts()
    second = _post(client, BODY, "key-1")

    assert first.status_code == 201
    assert "Idempotent-Replayed" not in first
    assert second.status_code == 201
    assert second.json() == first.json()
    assert second["Idempotent-Replayed"] == "true"
    assert Asset.objects.filter(symbol="IDEM").count() == 1
    assert counts() == after_first  # the replay wrote nothing at all


def test_the_key_and_first_response_are_stored_in_postgresql(api, ops):
    resp = _post(api(ops), BODY, "stored-key")

    row = IdempotencyKey.objects.get(user=ops, key="stored-key")
    assert row.method == "POST"
    assert row.path == "/api/assets/"
    assert row.status_code == 201
    assert row.response_body == resp.json()
    assert len(row.fingerprint) == 64


def test_same_key_with_another_body_is_409_and_writes_nothing(api, ops, counts):
    client = api(ops)
    assert _post(client, BODY, "key-2").status_code == 201
    before = counts()

    resp = _post(client, {**BODY, "symbol": "OTHER"}, "key-2")

    assert resp.status_code == 409
    assert "different request" in resp.json()["detail"]
    assert "Idempotency-Key" in resp.json()["detail"]
    assert not Asset.objects.filter(symbol="OTHER").exists()
    assert counts() == before


def test_same_key_on_another_path_is_409(api, ops, book):
    client = api(ops)
    assert _post(client, BODY, "key-3").status_code == 201
    resp = _post(client, {"code": "NEWD", "name": "New desk"}, "key-3", path="/api/desks/")
    assert resp.status_code == 409


def test_different_users_use_the_same_key_independently(api, ops, make_user):
    other = make_user(Role.ADMIN, username="admin-idem")

    mine = _post(api(ops), BODY, "shared-key")
    theirs = _post(api(other), {**BODY, "symbol": "IDEM2"}, "shared-key")

    assert mine.status_code == theirs.status_code == 201
    assert "Idempotent-Replayed" not in theirs
    assert set(Asset.objects.values_list("symbol", flat=True)) == {"IDEM", "IDEM2"}
    assert IdempotencyKey.objects.filter(key="shared-key").count() == 2


def test_a_400_is_replayed_as_400(api, ops, counts):
    client = api(ops)
    bad = {**BODY, "decimals": 19}

    first = _post(client, bad, "key-bad")
    before = counts()
    second = _post(client, bad, "key-bad")

    assert first.status_code == second.status_code == 400
    assert "decimals" in first.json()
    assert second.json() == first.json()
    assert second["Idempotent-Replayed"] == "true"
    assert not Asset.objects.filter(symbol="IDEM").exists()
    assert counts() == before


def test_a_403_stores_no_key(api, make_user):
    trader = make_user(Role.TRADING)
    assert _post(api(trader), BODY, "key-forbidden").status_code == 403
    assert not IdempotencyKey.objects.exists()


def test_without_a_key_every_post_is_a_new_request(api, ops):
    client = api(ops)
    assert client.post("/api/assets/", BODY, format="json").status_code == 201
    assert client.post("/api/assets/", BODY, format="json").status_code == 400  # duplicate
    assert not IdempotencyKey.objects.exists()


def test_an_over_long_key_is_400(api, ops):
    resp = _post(api(ops), BODY, "k" * 256)
    assert resp.status_code == 400
    assert "Idempotency-Key" in resp.json()
    assert not Asset.objects.exists()


def test_a_replay_works_on_approval_decisions(api, book, make_user, effect_action):
    """Any POST honours the key, including an approval: a retried approve is not a 409."""
    from financing.approvals.services import approval_request_create
    from tests.platform.conftest import TEST_ACTION, applied_count

    request = approval_request_create(
        action=TEST_ACTION, maker=make_user(Role.OPS), payload={}, now=clock.now()
    )
    client = api(make_user(Role.RISK))
    path = f"/api/approvals/{request.pk}/approve/"

    first = _post(client, {"reason": "ok"}, "approve-once", path=path)
    retry = _post(client, {"reason": "ok"}, "approve-once", path=path)

    assert first.status_code == retry.status_code == 200
    assert retry["Idempotent-Replayed"] == "true"
    assert applied_count() == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_requests_with_the_same_key_create_exactly_one_asset():
    user = UserFactory(role=Role.OPS, username="ops-race")
    token = Token.objects.create(user=user).key
    body = json.dumps(BODY)

    def send(_i):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
        resp = client.post(
            "/api/assets/", body, content_type="application/json", HTTP_IDEMPOTENCY_KEY="race"
        )
        return resp.status_code, resp.json(), resp.get("Idempotent-Replayed")

    results = run_in_threads(6, send)

    assert all(isinstance(r, tuple) for r in results), results
    assert {status for status, _, _ in results} == {201}
    assert len({json.dumps(b, sort_keys=True) for _, b, _ in results}) == 1
    assert sum(1 for *_, replayed in results if replayed is None) == 1
    assert Asset.objects.filter(symbol="IDEM").count() == 1
    assert IdempotencyKey.objects.filter(user=user, key="race").count() == 1


@pytest.mark.django_db(transaction=True)
def test_purge_job_deletes_keys_past_their_retention(settings):
    user = UserFactory(role=Role.OPS, username="ops-purge")
    now = clock.now()
    ttl = timedelta(hours=settings.IDEMPOTENCY_KEY_TTL_HOURS)

    def key(name, age):
        return IdempotencyKey.objects.create(
            user=user,
            key=name,
            method="POST",
            path="/api/assets/",
            fingerprint="0" * 64,
            status_code=201,
            response_body={},
            created_at=now - age,
        )

    key("old", ttl + timedelta(hours=1))
    key("older", ttl * 3)
    key("fresh", ttl - timedelta(hours=1))

    run = job_run("purge_idempotency_keys", trigger=JobRun.Trigger.TEST)

    assert run.status == JobRun.Status.SUCCEEDED
    assert run.counts == {"purged": 2}
    assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["fresh"]
