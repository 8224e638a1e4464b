from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from financing.api.models import IdempotencyKey
from financing.api.services import idempotency_keys_purge
from financing.refdata.models import Asset
from tests.factories import UserFactory

BODY = {"symbol": "IDEM", "name": "Idem token", "decimals": 8}


@pytest.mark.django_db
def test_same_key_and_body_replays_the_first_response(api):
    client = api(UserFactory(role="ops"))
    first = client.post("/api/assets/", BODY, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    again = client.post("/api/assets/", BODY, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    assert again["Idempotent-Replayed"] == "true"
    assert Asset.objects.filter(symbol="IDEM").count() == 1
    assert IdempotencyKey.objects.get(key="k-1").status_code == 201


@pytest.mark.django_db
def test_same_key_with_another_body_is_409_and_writes_nothing(api):
    client = api(UserFactory(role="ops"))
    client.post("/api/assets/", BODY, format="json", HTTP_IDEMPOTENCY_KEY="k-2")
    resp = client.post(
        "/api/assets/", {**BODY, "symbol": "OTHER"}, format="json", HTTP_IDEMPOTENCY_KEY="k-2"
    )
    assert resp.status_code == 409
    assert "Idempotency-Key" in resp.json()["detail"]
    assert not Asset.objects.filter(symbol="OTHER").exists()


@pytest.mark.django_db
def test_keys_are_per_user(api):
    a, b = api(UserFactory(role="ops")), api(UserFactory(role="admin"))
    assert (
        a.post("/api/assets/", BODY, format="json", HTTP_IDEMPOTENCY_KEY="shared").status_code
        == 201
    )
    resp = b.post(
        "/api/assets/", {**BODY, "symbol": "IDEM2"}, format="json", HTTP_IDEMPOTENCY_KEY="shared"
    )
    assert resp.status_code == 201 and "Idempotent-Replayed" not in resp


@pytest.mark.django_db
def test_a_refused_request_is_replayed_as_refused(api):
    client = api(UserFactory(role="ops"))
    bad = {**BODY, "decimals": 40}
    first = client.post("/api/assets/", bad, format="json", HTTP_IDEMPOTENCY_KEY="k-3")
    again = client.post("/api/assets/", bad, format="json", HTTP_IDEMPOTENCY_KEY="k-3")
    assert first.status_code == again.status_code == 400
    assert first.json() == again.json()
    assert Asset.objects.count() == 0


@pytest.mark.django_db
def test_overlong_key_is_400(api):
    client = api(UserFactory(role="ops"))
    resp = client.post("/api/assets/", BODY, format="json", HTTP_IDEMPOTENCY_KEY="x" * 300)
    assert resp.status_code == 400 and Asset.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_concurrent_retries_with_one_key_create_one_asset():
    from rest_framework.authtoken.models import Token

    token = Token.objects.create(user=UserFactory(role="ops")).key
    barrier = threading.Barrier(4)
    statuses = []

    def post():
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
        barrier.wait()
        statuses.append(
            client.post(
                "/api/assets/", BODY, format="json", HTTP_IDEMPOTENCY_KEY="race"
            ).status_code
        )
        connection.close()

    threads = [threading.Thread(target=post) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert statuses == [201] * 4
    assert Asset.objects.filter(symbol="IDEM").count() == 1
    assert IdempotencyKey.objects.filter(key="race").count() == 1


@pytest.mark.django_db
def test_purge_deletes_only_old_keys(api):
    client = api(UserFactory(role="ops"))
    client.post("/api/assets/", BODY, format="json", HTTP_IDEMPOTENCY_KEY="old")
    client.post(
        "/api/assets/", {**BODY, "symbol": "NEWER"}, format="json", HTTP_IDEMPOTENCY_KEY="new"
    )
    IdempotencyKey.objects.filter(key="old").update(created_at=timezone.now() - timedelta(days=5))
    assert idempotency_keys_purge(older_than=timezone.now() - timedelta(days=3)) == 1
    assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["new"]
