"""Bad input on every reference-data endpoint: a 400 with a clear message, nothing written."""

from __future__ import annotations

import json

import pytest

from financing.audit.models import ActivityEntry
from financing.refdata.models import Asset, Counterparty, Desk, Venue
from tests.factories import (
    AssetFactory,
    CounterpartyFactory,
    DeskFactory,
    UserFactory,
    VenueFactory,
)

GOOD = {
    "/api/assets/": {"symbol": "NEWT", "name": "New token", "decimals": 8},
    "/api/venues/": {"code": "NEWV", "name": "New venue", "kind": "exchange"},
    "/api/desks/": {"code": "NEWD", "name": "New desk"},
    "/api/counterparties/": {
        "code": "NEWC",
        "name": "New Co",
        "kind": "fund",
        "jurisdiction": "GB",
        "risk_rating": "low",
    },
}
BAD = [
    ("/api/assets/", {"decimals": "8"}, "decimals"),
    ("/api/assets/", {"decimals": 8.5}, "decimals"),
    ("/api/assets/", {"decimals": 19}, "decimals"),
    ("/api/assets/", {"decimals": -1}, "decimals"),
    ("/api/assets/", {"decimals": True}, "decimals"),
    ("/api/assets/", {"is_stablecoin": "yes"}, "is_stablecoin"),
    ("/api/assets/", {"symbol": "bad sym!"}, "symbol"),
    ("/api/assets/", {"symbol": "X" * 40}, "symbol"),
    ("/api/assets/", {"name": 12}, "name"),
    ("/api/assets/", {"chains": "ethereum"}, "chains"),
    ("/api/assets/", {"surprise": 1}, "surprise"),
    ("/api/assets/", {"symbol": "BTC"}, "symbol"),
    ("/api/venues/", {"kind": "casino"}, "kind"),
    ("/api/venues/", {"status": "maybe"}, "status"),
    ("/api/venues/", {"code": ""}, "code"),
    ("/api/desks/", {"risk_profile": "extreme"}, "risk_profile"),
    ("/api/desks/", {"name": "n" * 101}, "name"),
    ("/api/counterparties/", {"jurisdiction": "usa"}, "jurisdiction"),
    ("/api/counterparties/", {"jurisdiction": "u1"}, "jurisdiction"),
    ("/api/counterparties/", {"lei": "5493001KJTIIGC8Y1R13"}, "lei"),
    ("/api/counterparties/", {"kind": "bank"}, "kind"),
    ("/api/counterparties/", {"risk_rating": 3}, "risk_rating"),
    ("/api/counterparties/", {"kyc_status": "approved"}, "kyc_status"),
]


def _counts():
    return (
        Asset.objects.count(),
        Venue.objects.count(),
        Desk.objects.count(),
        Counterparty.objects.count(),
        ActivityEntry.objects.count(),
    )


@pytest.fixture
def admin_api(api):
    AssetFactory(symbol="BTC")
    VenueFactory(code="V1")
    DeskFactory(code="D1")
    CounterpartyFactory(code="CP1")
    return api(UserFactory(role="admin"))


@pytest.mark.django_db
@pytest.mark.parametrize(("path", "override", "field"), BAD, ids=[f"{p}:{f}" for p, _, f in BAD])
def test_bad_create_is_400_naming_the_field_and_writes_nothing(admin_api, path, override, field):
    before = _counts()
    resp = admin_api.post(path, {**GOOD[path], **override}, format="json")
    assert resp.status_code == 400, resp.content
    assert field in resp.json()
    assert _counts() == before


@pytest.mark.django_db
@pytest.mark.parametrize("path", list(GOOD))
def test_good_create_works_so_the_bad_cases_above_prove_something(admin_api, path):
    assert admin_api.post(path, GOOD[path], format="json").status_code == 201


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/api/assets/BTC/", {"decimals": "x"}, "decimals"),
        ("/api/assets/BTC/", {"symbol": "ETH"}, "symbol"),
        ("/api/venues/V1/", {"kind": 1}, "kind"),
        ("/api/desks/D1/", {"unknown": "x"}, "unknown"),
        ("/api/counterparties/CP1/", {"kyc_status": "approved"}, "kyc_status"),
        ("/api/counterparties/CP1/", {"kyc_expires_on": "2030-01-01"}, "kyc_expires_on"),
        ("/api/counterparties/CP1/", {"lei": "NOTALEI"}, "lei"),
    ],
)
def test_bad_update_is_400_and_writes_nothing(admin_api, path, body, field):
    before = _counts()
    resp = admin_api.patch(path, body, format="json")
    assert resp.status_code == 400, resp.content
    assert field in resp.json()
    assert _counts() == before


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"kyc_status": "approved", "reason": "ok"}, "kyc_expires_on"),
        (
            {"kyc_status": "approved", "kyc_expires_on": "2020-01-01", "reason": "ok"},
            "kyc_expires_on",
        ),
        (
            {"kyc_status": "approved", "kyc_expires_on": "2026-13-45", "reason": "ok"},
            "kyc_expires_on",
        ),
        ({"kyc_status": "great", "reason": "ok"}, "kyc_status"),
        ({"kyc_status": "restricted"}, "reason"),
        ({"kyc_status": "approved", "kyc_expires_on": 20300101, "reason": "ok"}, "kyc_expires_on"),
    ],
)
def test_bad_kyc_change_is_400_and_creates_no_approval(api, body, field):
    from financing.approvals.models import ApprovalRequest

    CounterpartyFactory(code="CP1", kyc_status="pending", kyc_expires_on=None)
    resp = api(UserFactory(role="compliance")).post(
        "/api/counterparties/CP1/kyc/", body, format="json"
    )
    assert resp.status_code == 400, resp.content
    assert field in resp.json()
    assert ApprovalRequest.objects.count() == 0


@pytest.mark.django_db
@pytest.mark.parametrize(
    "raw",
    [
        "{bad json",
        "[1, 2]",
        '"text"',
        "null",
        '{"decimals": NaN}',
        "\xff\xfe".encode("latin-1").decode("latin-1"),
    ],
)
def test_malformed_bodies_are_400(admin_api, raw):
    before = _counts()
    resp = admin_api.generic("POST", "/api/assets/", raw, content_type="application/json")
    assert resp.status_code == 400, resp.content
    assert _counts() == before


@pytest.mark.django_db
def test_huge_payload_is_400_not_500(admin_api):
    before = _counts()
    body = json.dumps({**GOOD["/api/assets/"], "name": "x" * (3 * 1024 * 1024)})
    resp = admin_api.generic("POST", "/api/assets/", body, content_type="application/json")
    assert resp.status_code == 400
    assert _counts() == before


@pytest.mark.django_db
def test_bad_filter_value_is_400(admin_api):
    assert admin_api.get("/api/counterparties/?kyc_status=great").status_code == 400
    assert admin_api.get("/api/counterparties/?kyc_expires_before=yesterday").status_code == 400
