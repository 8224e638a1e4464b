"""Bad input on every reference-data write: always a 400 whose JSON body names the field (or
"detail"), never a 500, and nothing written: no row, no history row, no approval."""

from __future__ import annotations

import json
from datetime import timedelta
from unittest import mock

import pytest
from django.db import models
from django.forms.models import model_to_dict

from financing import clock
from financing.accounts.roles import Role
from financing.errors import Conflict
from financing.refdata import services
from financing.refdata.models import Asset, Counterparty, Desk, Venue

MISSING = object()
VALID_LEI = "5493001KJTIIGC8Y1R12"
BAD_CHECK_DIGITS_LEI = "5493001KJTIIGC8Y1R13"
HUGE = 2_600_000  # bytes; the API accepts at most DATA_UPLOAD_MAX_MEMORY_SIZE (2 MiB)

# resource -> (collection path, a detail path on the `book` fixture, the model, a valid body)
RESOURCES = {
    "assets": (
        "/api/assets/",
        "/api/assets/BTC/",
        Asset,
        {"symbol": "NEWC", "name": "New coin", "decimals": 8},
    ),
    "venues": (
        "/api/venues/",
        "/api/venues/CUST1/",
        Venue,
        {"code": "NEWV", "name": "New venue", "kind": "exchange"},
    ),
    "desks": ("/api/desks/", "/api/desks/DESK1/", Desk, {"code": "NEWD", "name": "New desk"}),
    "counterparties": (
        "/api/counterparties/",
        "/api/counterparties/CP1/",
        Counterparty,
        {
            "code": "NEWCP",
            "name": "New Counterparty Ltd",
            "kind": "fund",
            "jurisdiction": "GB",
            "risk_rating": "low",
        },
    ),
}
KYC_PATH = "/api/counterparties/CP1/kyc/"
KYC_VALID = {"kyc_status": "restricted", "reason": "adverse media"}

# (resource, case id, changes to the valid body, the key the 400 must name)
POST_CASES = [
    # assets
    ("assets", "symbol-as-number", {"symbol": 123}, "symbol"),
    ("assets", "name-as-number", {"name": 42}, "name"),
    ("assets", "name-as-object", {"name": {"en": "x"}}, "name"),
    ("assets", "decimals-as-string", {"decimals": "8"}, "decimals"),
    ("assets", "decimals-as-json-decimal", {"decimals": 8.5}, "decimals"),
    ("assets", "decimals-19", {"decimals": 19}, "decimals"),
    ("assets", "decimals-negative", {"decimals": -1}, "decimals"),
    ("assets", "decimals-absurd", {"decimals": 10**40}, "decimals"),
    ("assets", "decimals-bool", {"decimals": True}, "decimals"),
    ("assets", "decimals-null", {"decimals": None}, "decimals"),
    ("assets", "stablecoin-yes", {"is_stablecoin": "yes"}, "is_stablecoin"),
    ("assets", "stablecoin-one", {"is_stablecoin": 1}, "is_stablecoin"),
    ("assets", "chains-not-a-list", {"chains": "ethereum"}, "chains"),
    ("assets", "chains-too-many", {"chains": [f"c{i}" for i in range(21)]}, "chains"),
    ("assets", "unknown-field", {"colour": "orange"}, "colour"),
    ("assets", "symbol-with-space", {"symbol": "my coin"}, "symbol"),
    ("assets", "symbol-punctuation", {"symbol": "BTC$"}, "symbol"),
    ("assets", "symbol-non-ascii", {"symbol": "BTĆ"}, "symbol"),
    ("assets", "symbol-too-long", {"symbol": "A" * 33}, "symbol"),
    ("assets", "symbol-blank", {"symbol": "  "}, "symbol"),
    ("assets", "symbol-null", {"symbol": None}, "symbol"),
    ("assets", "symbol-missing", {"symbol": MISSING}, "symbol"),
    ("assets", "name-too-long", {"name": "x" * 101}, "name"),
    ("assets", "name-blank", {"name": ""}, "name"),
    ("assets", "symbol-duplicate", {"symbol": "BTC"}, "symbol"),
    ("assets", "symbol-duplicate-lowercase", {"symbol": "btc"}, "symbol"),
    ("assets", "read-only-id", {"id": 5}, "id"),
    # venues
    ("venues", "kind-unknown", {"kind": "dark_pool"}, "kind"),
    ("venues", "kind-as-number", {"kind": 1}, "kind"),
    ("venues", "status-unknown", {"status": "open"}, "status"),
    ("venues", "code-with-space", {"code": "new venue"}, "code"),
    ("venues", "code-as-number", {"code": 7}, "code"),
    ("venues", "code-too-long", {"code": "V" * 33}, "code"),
    ("venues", "name-too-long", {"name": "v" * 101}, "name"),
    ("venues", "name-as-bool", {"name": True}, "name"),
    ("venues", "unknown-field", {"country": "GB"}, "country"),
    ("venues", "code-duplicate", {"code": "CUST1"}, "code"),
    ("venues", "kind-missing", {"kind": MISSING}, "kind"),
    ("venues", "code-blank", {"code": ""}, "code"),
    # desks
    ("desks", "risk-profile-unknown", {"risk_profile": "extreme"}, "risk_profile"),
    ("desks", "risk-profile-as-number", {"risk_profile": 3}, "risk_profile"),
    ("desks", "code-with-space", {"code": "de sk"}, "code"),
    ("desks", "code-starting-with-dash", {"code": "-DESK"}, "code"),
    ("desks", "code-too-long", {"code": "D" * 33}, "code"),
    ("desks", "name-as-number", {"name": 7}, "name"),
    ("desks", "name-too-long", {"name": "d" * 101}, "name"),
    ("desks", "unknown-field", {"head": "alice"}, "head"),
    ("desks", "code-duplicate", {"code": "DESK1"}, "code"),
    # counterparties
    ("counterparties", "jurisdiction-usa", {"jurisdiction": "usa"}, "jurisdiction"),
    ("counterparties", "jurisdiction-digits", {"jurisdiction": "U1"}, "jurisdiction"),
    ("counterparties", "jurisdiction-as-number", {"jurisdiction": 44}, "jurisdiction"),
    ("counterparties", "jurisdiction-lowercase-digits", {"jurisdiction": "u1"}, "jurisdiction"),
    ("counterparties", "lei-bad-check-digits", {"lei": BAD_CHECK_DIGITS_LEI}, "lei"),
    ("counterparties", "lei-too-short", {"lei": "5493001KJT"}, "lei"),
    ("counterparties", "lei-too-long", {"lei": VALID_LEI + "0"}, "lei"),
    ("counterparties", "kind-unknown", {"kind": "bank"}, "kind"),
    ("counterparties", "risk-rating-unknown", {"risk_rating": "extreme"}, "risk_rating"),
    ("counterparties", "risk-rating-as-number", {"risk_rating": 3}, "risk_rating"),
    ("counterparties", "is-active-yes", {"is_active": "yes"}, "is_active"),
    ("counterparties", "kyc-status-not-writable", {"kyc_status": "approved"}, "kyc_status"),
    ("counterparties", "kyc-expiry-malformed", {"kyc_expires_on": "2026-13-45"}, "kyc_expires_on"),
    ("counterparties", "code-with-space", {"code": "new cp"}, "code"),
    ("counterparties", "code-too-long", {"code": "C" * 33}, "code"),
    ("counterparties", "name-too-long", {"name": "n" * 201}, "name"),
    ("counterparties", "name-as-number", {"name": 12}, "name"),
    ("counterparties", "unknown-field", {"rating": "AAA"}, "rating"),
    ("counterparties", "code-duplicate", {"code": "CP1"}, "code"),
    ("counterparties", "risk-rating-missing", {"risk_rating": MISSING}, "risk_rating"),
]

# (resource, case id, PATCH body, the key the 400 must name)
PATCH_CASES = [
    ("assets", "name-as-number", {"name": 5}, "name"),
    ("assets", "name-blank", {"name": ""}, "name"),
    ("assets", "name-null", {"name": None}, "name"),
    ("assets", "name-too-long", {"name": "x" * 101}, "name"),
    ("assets", "decimals-as-string", {"decimals": "8"}, "decimals"),
    ("assets", "decimals-as-text", {"decimals": "x"}, "decimals"),
    ("assets", "decimals-as-json-decimal", {"decimals": 8.5}, "decimals"),
    ("assets", "decimals-19", {"decimals": 19}, "decimals"),
    ("assets", "decimals-negative", {"decimals": -1}, "decimals"),
    ("assets", "stablecoin-yes", {"is_stablecoin": "yes"}, "is_stablecoin"),
    ("assets", "unknown-field", {"colour": "orange"}, "colour"),
    ("assets", "symbol-change", {"symbol": "ETH"}, "symbol"),
    ("venues", "kind-unknown", {"kind": "dark_pool"}, "kind"),
    ("venues", "kind-as-number", {"kind": 1}, "kind"),
    ("venues", "status-unknown", {"status": "gone"}, "status"),
    ("venues", "name-as-number", {"name": 1}, "name"),
    ("venues", "code-change", {"code": "OTHER"}, "code"),
    ("desks", "risk-profile-unknown", {"risk_profile": "extreme"}, "risk_profile"),
    ("desks", "name-blank", {"name": ""}, "name"),
    ("desks", "unknown-field", {"head": "alice"}, "head"),
    ("counterparties", "kyc-status", {"kyc_status": "approved"}, "kyc_status"),
    (
        "counterparties",
        "kyc-expiry",
        {"kyc_expires_on": "2030-01-01"},
        "kyc_expires_on",
    ),
    ("counterparties", "risk-rating-unknown", {"risk_rating": "extreme"}, "risk_rating"),
    ("counterparties", "jurisdiction-usa", {"jurisdiction": "usa"}, "jurisdiction"),
    ("counterparties", "jurisdiction-digits", {"jurisdiction": "U1"}, "jurisdiction"),
    ("counterparties", "lei-bad-check-digits", {"lei": BAD_CHECK_DIGITS_LEI}, "lei"),
    ("counterparties", "lei-malformed", {"lei": "NOTALEI"}, "lei"),
    ("counterparties", "is-active-yes", {"is_active": "yes"}, "is_active"),
    ("counterparties", "code-change", {"code": "CP2"}, "code"),
]


def _today():
    return clock.business_date()


# (case id, changes to the valid KYC body, the key the 400 must name); callables get today
KYC_CASES = [
    ("status-unknown", {"kyc_status": "whitelisted"}, "kyc_status"),
    ("status-as-number", {"kyc_status": 1}, "kyc_status"),
    ("status-missing", {"kyc_status": MISSING}, "kyc_status"),
    ("expiry-malformed", {"kyc_expires_on": "2026-13-45"}, "kyc_expires_on"),
    ("expiry-as-number", {"kyc_expires_on": 20261231}, "kyc_expires_on"),
    ("expiry-datetime", {"kyc_expires_on": "2027-01-01T00:00:00Z"}, "kyc_expires_on"),
    ("approved-without-expiry", {"kyc_status": "approved"}, "kyc_expires_on"),
    (
        "approved-expiry-in-the-past",
        {"kyc_status": "approved", "kyc_expires_on": lambda t: (t - timedelta(days=1)).isoformat()},
        "kyc_expires_on",
    ),
    ("reason-missing", {"reason": MISSING}, "reason"),
    ("reason-blank", {"reason": ""}, "reason"),
    ("reason-as-number", {"reason": 5}, "reason"),
    ("reason-too-long", {"reason": "r" * 501}, "reason"),
    ("unknown-field", {"approved_by": "me"}, "approved_by"),
    (
        "no-change",
        {
            "kyc_status": "approved",
            "kyc_expires_on": lambda t: (t + timedelta(days=365)).isoformat(),
        },
        "kyc_status",
    ),
]

# Bodies that are not a JSON object at all: (case id, raw bytes)
RAW_CASES = [
    ("malformed-json", b'{"name": "x",'),
    ("json-array", b'[{"name": "x"}]'),
    ("json-string", b'"just a string"'),
    ("json-null", b"null"),
    ("json-nan", b'{"name": NaN}'),
    ("deeply-nested", b"[" * 100_000 + b"]" * 100_000),
    ("not-utf8", b'{"name": "\xff\xfe"}'),
]


def _body(valid: dict, changes: dict) -> dict:
    body = dict(valid)
    for key, value in changes.items():
        if value is MISSING:
            body.pop(key, None)
        elif callable(value):
            body[key] = value(_today())
        else:
            body[key] = value
    return body


def _huge(valid: dict) -> bytes:
    """A valid body padded with whitespace past the size limit."""
    text = json.dumps(valid)
    return (text[:-1] + " " * HUGE + "}").encode()


@pytest.fixture
def admin(make_user):
    return make_user(Role.ADMIN, username="admin-bad-input")


@pytest.fixture
def compliance(make_user):
    return make_user(Role.COMPLIANCE, username="compliance-bad-input")


@pytest.fixture
def refused(counts):
    """refused(resp, key, before): a 400 whose JSON object names `key`, and nothing written."""

    def check(resp, key, before):
        assert resp.status_code == 400, resp.content[:300]
        body = resp.json()
        assert isinstance(body, dict) and body, body
        assert key in body, body
        messages = body[key] if isinstance(body[key], list) else [body[key]]
        assert messages and all(isinstance(m, str) and m.strip() for m in messages), body
        assert counts() == before

    return check


def _all_rows():
    return {
        model: [model_to_dict(o) for o in model.objects.order_by("pk")]
        for model in (Asset, Venue, Desk, Counterparty)
    }


def _raw(client, method, path, data: bytes):
    return getattr(client, method)(path, data=data, content_type="application/json")


@pytest.mark.parametrize(
    ("resource", "changes", "key"),
    [pytest.param(r, c, k, id=f"{r}-{i}") for r, i, c, k in POST_CASES],
)
def test_post_with_bad_input_is_400_and_writes_nothing(
    api, admin, book, counts, refused, resource, changes, key
):
    path, _detail, _model, valid = RESOURCES[resource]
    before = counts()
    resp = api(admin).post(path, _body(valid, changes), format="json")
    refused(resp, key, before)


@pytest.mark.parametrize(
    ("resource", "body", "key"),
    [pytest.param(r, b, k, id=f"{r}-{i}") for r, i, b, k in PATCH_CASES],
)
def test_patch_with_bad_input_is_400_and_changes_nothing(
    api, admin, book, counts, refused, resource, body, key
):
    _path, detail, _model, _valid = RESOURCES[resource]
    before, rows = counts(), _all_rows()
    resp = api(admin).patch(detail, body, format="json")
    refused(resp, key, before)
    assert _all_rows() == rows


@pytest.mark.parametrize(("changes", "key"), [pytest.param(c, k, id=i) for i, c, k in KYC_CASES])
def test_kyc_change_with_bad_input_is_400_and_requests_nothing(
    api, compliance, book, counts, refused, changes, key
):
    before, rows = counts(), _all_rows()
    resp = api(compliance).post(KYC_PATH, _body(KYC_VALID, changes), format="json")
    refused(resp, key, before)
    assert _all_rows() == rows


def test_patch_with_kyc_status_points_to_the_kyc_endpoint(api, admin, book):
    resp = api(admin).patch("/api/counterparties/CP1/", {"kyc_status": "approved"}, format="json")
    assert resp.status_code == 400
    assert "/kyc/" in resp.json()["kyc_status"][0]


def test_kyc_expiry_in_the_past_names_the_problem(api, compliance, book):
    past = (_today() - timedelta(days=30)).isoformat()
    body = {"kyc_status": "approved", "kyc_expires_on": past, "reason": "renewal"}
    resp = api(compliance).post(KYC_PATH, body, format="json")
    assert resp.status_code == 400
    assert "past" in resp.json()["kyc_expires_on"][0]


def test_valid_lei_and_lowercase_jurisdiction_are_accepted(api, admin, book):
    """The control case of the LEI and jurisdiction refusals above."""
    body = {**RESOURCES["counterparties"][3], "lei": VALID_LEI, "jurisdiction": "gb"}
    resp = api(admin).post("/api/counterparties/", body, format="json")
    assert resp.status_code == 201, resp.content
    assert Counterparty.objects.get(code="NEWCP").jurisdiction == "GB"


ENDPOINTS = [
    *[pytest.param("post", r[0], r[3], id=f"post-{name}") for name, r in RESOURCES.items()],
    *[
        pytest.param("patch", r[1], {"name": "Renamed"}, id=f"patch-{name}")
        for name, r in RESOURCES.items()
    ],
    pytest.param("post", KYC_PATH, KYC_VALID, id="post-kyc"),
]


@pytest.mark.parametrize(("method", "path", "valid"), ENDPOINTS)
@pytest.mark.parametrize(("raw",), [pytest.param(raw, id=i) for i, raw in RAW_CASES])
def test_a_body_that_is_not_a_json_object_is_400(
    api, admin, compliance, book, counts, refused, method, path, valid, raw
):
    user = compliance if path == KYC_PATH else admin
    before, rows = counts(), _all_rows()
    resp = _raw(api(user), method, path, raw)
    refused(resp, "detail", before)
    assert _all_rows() == rows


@pytest.mark.parametrize(("method", "path", "valid"), ENDPOINTS)
@pytest.mark.parametrize("with_key", [False, True], ids=["plain", "idempotency-key"])
def test_a_huge_body_is_400_even_when_otherwise_valid(
    api, admin, compliance, book, counts, refused, method, path, valid, with_key
):
    user = compliance if path == KYC_PATH else admin
    before, rows = counts(), _all_rows()
    extra = {"HTTP_IDEMPOTENCY_KEY": "huge"} if with_key else {}
    resp = getattr(api(user), method)(
        path, data=_huge(valid), content_type="application/json", **extra
    )
    refused(resp, "detail", before)
    assert "too large" in resp.json()["detail"]
    assert _all_rows() == rows


@pytest.mark.parametrize(("method", "path", "valid"), ENDPOINTS)
def test_a_huge_field_value_is_400(api, admin, compliance, book, counts, method, path, valid):
    user = compliance if path == KYC_PATH else admin
    field = "reason" if path == KYC_PATH else "name"
    before = counts()
    resp = getattr(api(user), method)(path, {**valid, field: "x" * HUGE}, format="json")
    assert resp.status_code == 400
    assert set(resp.json()) <= {field, "detail"}
    assert counts() == before


def test_the_valid_bodies_used_above_are_accepted(api, admin, compliance, book):
    """Without this control, a refusal above could come from a broken base body."""
    for name, (path, detail, _model, valid) in RESOURCES.items():
        assert api(admin).post(path, valid, format="json").status_code == 201, name
        assert api(admin).patch(detail, {"name": "Renamed"}, format="json").status_code == 200
    assert api(compliance).post(KYC_PATH, KYC_VALID, format="json").status_code == 202


@pytest.mark.parametrize(
    ("create", "message"),
    [
        (
            lambda admin: services.asset_create(actor=admin, symbol="BTC", name="B", decimals=8),
            "An asset with symbol BTC already exists.",
        ),
        (
            lambda admin: services.desk_create(actor=admin, code="DESK1", name="Again"),
            "A desk with code DESK1 already exists.",
        ),
    ],
)
def test_a_duplicate_that_slips_past_validation_is_a_409_naming_the_field(
    admin, book, create, message
):
    """Two writers racing: both pass full_clean, the unique index refuses the second."""
    skip_unique_check = mock.patch.object(
        models.Model, "validate_unique", lambda self, exclude=None: None
    )
    with skip_unique_check, pytest.raises(Conflict) as exc:
        create(admin)
    assert exc.value.message == message and exc.value.status_code == 409
    assert "duplicate key" not in exc.value.message and "DETAIL" not in exc.value.message
