"""The treasury API: the permission matrix on every endpoint, the contract of each, and bad
input answered 400 with nothing written."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from financing.accounts.roles import can
from tests.factories import UserFactory
from treasury import services
from treasury.models import BalanceSnapshot, BufferLevel, TreasuryAccount
from treasury.services import imports

D = Decimal
pytestmark = pytest.mark.django_db
ROLES = ["ops", "risk", "treasury", "compliance", "trading", "auditor", "admin"]
CSV = b"venue,asset,purpose,amount,as_of\nCUST1,BTC,lendable,1.5,2026-11-20T00:00:00Z\n"


@pytest.fixture
def lendable(account, balance, treasurer, cust, btc, usdc, now):
    a = account(cust, btc)
    balance(a, "12.5")
    services.buffer_level_set(actor=treasurer, asset=btc, minimum=D("2"), now=now)
    return a


def _counts():
    return (
        TreasuryAccount.objects.count(),
        BalanceSnapshot.objects.count(),
        BufferLevel.objects.count(),
        list(TreasuryAccount.objects.values_list("name", "is_active").order_by("pk")),
    )


def _endpoints(acct):
    return [
        ("get", "/api/treasury/accounts/", None, "treasury.view"),
        (
            "post",
            "/api/treasury/accounts/",
            {"venue": "CUST1", "asset": "BTC", "purpose": "operational"},
            "treasury.manage",
        ),
        ("get", f"/api/treasury/accounts/{acct.pk}/", None, "treasury.view"),
        ("patch", f"/api/treasury/accounts/{acct.pk}/", {"name": "Renamed"}, "treasury.manage"),
        ("get", "/api/treasury/balances/", None, "treasury.view"),
        (
            "post",
            "/api/treasury/balances/",
            {"account": acct.pk, "amount": "13", "as_of": "2026-11-21T09:00:00Z"},
            "treasury.manage",
        ),
        ("post", "/api/treasury/balances/import/", "FILE", "treasury.manage"),
        ("get", "/api/treasury/buffers/", None, "treasury.view"),
        (
            "post",
            "/api/treasury/buffers/",
            {"asset": "BTC", "venue": "CUST1", "minimum": "1"},
            "treasury.manage",
        ),
        ("get", "/api/treasury/lendable/", None, "treasury.view"),
    ]


def _call(client, method, path, body):
    if body == "FILE":
        return client.post(
            path, {"file": SimpleUploadedFile("b.csv", CSV, "text/csv")}, format="multipart"
        )
    if body is None:
        return getattr(client, method)(path)
    return getattr(client, method)(path, body, format="json")


@pytest.mark.parametrize("role", ROLES)
def test_permission_matrix(api, lendable, role):
    user = UserFactory(role=role, username=f"m-{role}")
    client = api(user)
    for method, path, body, capability in _endpoints(lendable):
        before = _counts()
        r = _call(client, method, path, body)
        if can(user, capability):
            assert r.status_code in (200, 201), (role, method, path, r.status_code, r.data)
        else:
            assert r.status_code == 403, (role, method, path, r.status_code)
            assert _counts() == before, (role, method, path)
    allowed = role in ("treasury", "admin")
    assert TreasuryAccount.objects.filter(purpose="operational").exists() is allowed


def test_anonymous_gets_401_everywhere(api, lendable):
    for method, path, body, _ in _endpoints(lendable):
        assert _call(api(), method, path, body).status_code == 401, path


# ---------------------------------------------------------------- contract


def test_account_create_takes_codes_and_answers_codes(api, treasurer, cust, btc):
    r = api(treasurer).post(
        "/api/treasury/accounts/",
        {"venue": "cust1", "asset": "btc", "purpose": "lendable", "name": "Main"},
        format="json",
    )
    assert r.status_code == 201, r.data
    assert {k: r.data[k] for k in ("venue", "asset", "purpose", "name", "is_active")} == {
        "venue": "CUST1",
        "asset": "BTC",
        "purpose": "lendable",
        "name": "Main",
        "is_active": True,
    }
    assert r.data["balance"] is None
    r = api(treasurer).post(
        "/api/treasury/accounts/",
        {"venue": "CUST1", "asset": "BTC", "purpose": "lendable"},
        format="json",
    )
    assert r.status_code == 409 and "already exists" in r.data["detail"]


def test_account_list_shows_latest_balance_and_filters(
    api, treasurer, lendable, account, exch, btc
):
    account(exch, btc, purpose="operational")
    r = api(treasurer).get("/api/treasury/accounts/?purpose=lendable")
    assert r.data["count"] == 1
    assert r.data["results"][0]["balance"] == "12.5"
    assert r.data["results"][0]["balance_as_of"] == "2026-11-21T09:30:00Z"
    assert api(treasurer).get("/api/treasury/accounts/?venue=EXCH1").data["count"] == 1
    assert api(treasurer).get("/api/treasury/accounts/?purpose=nope").status_code == 400


def test_account_patch_deactivates(api, treasurer, lendable):
    r = api(treasurer).patch(
        f"/api/treasury/accounts/{lendable.pk}/", {"is_active": False}, format="json"
    )
    assert r.status_code == 200 and r.data["is_active"] is False
    assert api(treasurer).get("/api/treasury/lendable/").data["results"][0]["lendable"] == "0"


def test_balance_post_one_and_a_list(api, treasurer, lendable, account, cust, usdc):
    u = account(cust, usdc)
    r = api(treasurer).post(
        "/api/treasury/balances/",
        {"account": lendable.pk, "amount": "20.12345678", "as_of": "2026-11-21T09:00:00Z"},
        format="json",
    )
    assert r.status_code == 201, r.data
    assert (r.data["asset"], r.data["venue"], r.data["amount"]) == ("BTC", "CUST1", "20.12345678")
    body = [
        {"account": u.pk, "amount": "60000000.000001", "as_of": "2026-11-21T08:00:00Z"},
        {"account": lendable.pk, "amount": "20.12345678", "as_of": "2026-11-21T09:00:00Z"},
    ]
    r = api(treasurer).post("/api/treasury/balances/", body, format="json")
    assert r.status_code == 201 and r.data == {"stored": 1, "duplicates": 1}
    r = api(treasurer).get(f"/api/treasury/balances/?asset=USDC&venue=CUST1&account={u.pk}")
    assert [x["amount"] for x in r.data["results"]] == ["60000000.000001"]


def test_import_endpoint_answers_counts_and_row_errors(api, treasurer, lendable):
    client = api(treasurer)
    r = client.post(
        "/api/treasury/balances/import/",
        {"file": SimpleUploadedFile("b.csv", CSV)},
        format="multipart",
    )
    assert r.status_code == 201 and r.data == {"stored": 1, "duplicates": 0}
    bad = CSV + b"CUST1,BTC,lendable,abc,2026-11-20T01:00:00Z\n"
    before = _counts()
    r = client.post(
        "/api/treasury/balances/import/",
        {"file": SimpleUploadedFile("b.csv", bad)},
        format="multipart",
    )
    assert r.status_code == 400
    assert r.data["file"] == ["Row 3: amount 'abc' is not a number."]
    assert _counts() == before
    assert client.post("/api/treasury/balances/import/", {}, format="multipart").status_code == 400
    r = client.post("/api/treasury/balances/import/", {"file": "x"}, format="json")
    assert r.status_code == 415


def test_buffers_and_lendable(api, treasurer, lendable):
    client = api(treasurer)
    r = client.post("/api/treasury/buffers/", {"asset": "BTC", "minimum": "3"}, format="json")
    assert r.status_code == 201 and r.data["venue"] is None and r.data["minimum"] == "3"
    r = client.post(
        "/api/treasury/buffers/", {"asset": "USDC", "venue": "CUST1", "minimum": "1"}, format="json"
    )
    assert r.status_code == 201
    assert client.get("/api/treasury/buffers/?asset=BTC").data["count"] == 1
    assert client.get("/api/treasury/lendable/").data == {
        "results": [
            {"asset": "BTC", "lendable": "12.5", "buffer": "3", "accounts": 1},
            {"asset": "USDC", "lendable": "0", "buffer": "1", "accounts": 0},
        ]
    }


def test_idempotency_key_replays_and_creates_nothing_new(api, treasurer, lendable):
    client = api(treasurer)
    body = {"account": lendable.pk, "amount": "14", "as_of": "2026-11-21T09:10:00Z"}
    first = client.post("/api/treasury/balances/", body, format="json", HTTP_IDEMPOTENCY_KEY="k1")
    again = client.post("/api/treasury/balances/", body, format="json", HTTP_IDEMPOTENCY_KEY="k1")
    assert first.status_code == again.status_code == 201 and first.data == again.data
    other = client.post(
        "/api/treasury/balances/",
        {**body, "amount": "15"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="k1",
    )
    assert other.status_code == 409
    assert BalanceSnapshot.objects.filter(amount=D("14")).count() == 1


def test_list_endpoints_run_a_bounded_number_of_queries(
    api, treasurer, account, balance, cust, btc, django_assert_max_num_queries, now
):
    from tests.factories import VenueFactory

    for i in range(12):
        a = account(VenueFactory(code=f"V{i}"), btc)
        balance(a, str(i + 1))
        services.buffer_level_set(
            actor=treasurer, asset=btc, venue=a.venue, minimum=D("1"), now=now
        )
    client = api(treasurer)
    for path in (
        "/api/treasury/accounts/",
        "/api/treasury/balances/",
        "/api/treasury/buffers/",
        "/api/treasury/lendable/",
    ):
        with django_assert_max_num_queries(8):
            r = client.get(path)
        assert r.status_code == 200, path


# ---------------------------------------------------------------- bad input


HUGE = "9" * 30
BAD_ACCOUNTS = [
    {},
    {"venue": "CUST1", "asset": "BTC"},
    {"venue": "NOPE", "asset": "BTC", "purpose": "lendable"},
    {"venue": "CUST1", "asset": "NOPE", "purpose": "lendable"},
    {"venue": "CUST1", "asset": "BTC", "purpose": "treasure"},
    {"venue": 1, "asset": "BTC", "purpose": "lendable"},
    {"venue": "CUST1", "asset": ["BTC"], "purpose": "lendable"},
    {"venue": "CUST1", "asset": "BTC", "purpose": "lendable", "name": "x" * 101},
    {"venue": "CUST1", "asset": "BTC", "purpose": "lendable", "extra": 1},
    {"venue": "C" * 5000, "asset": "BTC", "purpose": "lendable"},
    [],
    "lendable",
]


@pytest.mark.parametrize("body", BAD_ACCOUNTS)
def test_bad_account_bodies_are_400(api, treasurer, cust, btc, body):
    before = _counts()
    r = api(treasurer).post("/api/treasury/accounts/", body, format="json")
    assert r.status_code == 400, (body, r.status_code, getattr(r, "data", None))
    assert _counts() == before


def _bad_balances(pk):
    ok = {"account": pk, "amount": "1", "as_of": "2026-11-21T09:00:00Z"}
    return [
        {**ok, "amount": 1},
        {**ok, "amount": 1.5},
        {**ok, "amount": "-1"},
        {**ok, "amount": "0.000000001"},
        {**ok, "amount": HUGE},
        {**ok, "amount": "1e20"},
        {**ok, "amount": "NaN"},
        {**ok, "amount": "Infinity"},
        {**ok, "amount": "1,000"},
        {**ok, "amount": None},
        {**ok, "account": 999999},
        {**ok, "account": "1"},
        {**ok, "account": True},
        {**ok, "account": 2**70},
        {**ok, "account": -1},
        {**ok, "as_of": "yesterday"},
        {**ok, "as_of": "2026-13-45T00:00:00Z"},
        {**ok, "as_of": "2027-01-01T00:00:00Z"},
        {**ok, "as_of": 12345},
        {**ok, "source": "manual"},
        {"account": pk},
        [],
        [ok, {**ok, "as_of": "2026-11-21T08:00:00Z", "amount": "-3"}],
        [ok] * 1001,
        "x",
        42,
    ]


def test_bad_balance_bodies_are_400_and_write_nothing(api, treasurer, lendable):
    client = api(treasurer)
    for body in _bad_balances(lendable.pk):
        before = _counts()
        r = client.post("/api/treasury/balances/", body, format="json")
        assert r.status_code == 400, (str(body)[:200], r.status_code, getattr(r, "data", None))
        assert _counts() == before


def test_malformed_json_and_inactive_account_are_400(api, treasurer, lendable, now):
    client = api(treasurer)
    r = client.post("/api/treasury/balances/", b'{"account": ', content_type="application/json")
    assert r.status_code == 400
    services.treasury_account_update(actor=treasurer, account=lendable, now=now, is_active=False)
    before = _counts()
    r = client.post(
        "/api/treasury/balances/",
        {"account": lendable.pk, "amount": "1", "as_of": "2026-11-21T09:00:00Z"},
        format="json",
    )
    assert r.status_code == 400 and "inactive" in r.data["account"][0]
    assert _counts() == before


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"name": 5},
        {"is_active": "false"},
        {"is_active": 0},
        {"asset": "USDC"},
        {"purpose": "buffer"},
        {"name": "y" * 101},
    ],
)
def test_bad_patch_bodies_are_400(api, treasurer, lendable, body):
    before = _counts()
    r = api(treasurer).patch(f"/api/treasury/accounts/{lendable.pk}/", body, format="json")
    assert r.status_code == 400, (body, r.data)
    assert _counts() == before


def test_unknown_account_is_404(api, treasurer, lendable):
    assert (
        api(treasurer)
        .patch("/api/treasury/accounts/99999/", {"name": "x"}, format="json")
        .status_code
        == 404
    )
    assert api(treasurer).get("/api/treasury/accounts/abc/").status_code == 404


@pytest.mark.parametrize(
    "body",
    [
        {"asset": "BTC"},
        {"asset": "BTC", "minimum": 5},
        {"asset": "BTC", "minimum": "-5"},
        {"asset": "BTC", "minimum": "0.000000001"},
        {"asset": "BTC", "minimum": HUGE},
        {"asset": "NOPE", "minimum": "5"},
        {"asset": "BTC", "venue": "NOPE", "minimum": "5"},
        {"asset": "BTC", "venue": 3, "minimum": "5"},
        {"asset": "BTC", "minimum": "5", "reason": "x"},
    ],
)
def test_bad_buffer_bodies_are_400(api, treasurer, lendable, body):
    before = _counts()
    r = api(treasurer).post("/api/treasury/buffers/", body, format="json")
    assert r.status_code == 400, (body, r.data)
    assert _counts() == before


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("b.csv", b""),
        ("b.xlsx", b"PK\x03\x04 broken"),
        ("b.exe", CSV),
        ("b.csv", b"venue;asset;purpose;amount;as_of\n"),
        (
            "b.csv",
            b"venue,asset,purpose,amount,as_of\n"
            + b"CUST1,BTC,lendable,1e999999,2026-11-20T00:00:00Z\n",
        ),
    ],
)
def test_bad_files_are_400(api, treasurer, lendable, name, content):
    before = _counts()
    r = api(treasurer).post(
        "/api/treasury/balances/import/",
        {"file": SimpleUploadedFile(name, content)},
        format="multipart",
    )
    assert r.status_code == 400, r.data
    assert "file" in r.data
    assert _counts() == before


def test_oversized_file_is_400(api, treasurer, lendable, monkeypatch):
    monkeypatch.setattr(imports, "MAX_IMPORT_BYTES", 100)
    r = api(treasurer).post(
        "/api/treasury/balances/import/",
        {"file": SimpleUploadedFile("b.csv", CSV * 5)},
        format="multipart",
    )
    assert r.status_code == 400 and r.data["file"] == ["At most 100 bytes."]
