"""The collateral API contract (api.md, Prices, collateral and margin)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from freezegun import freeze_time

from collateral import services
from collateral.engine import revalue
from collateral.models import (
    CollateralMovement,
    CollateralPosition,
    Haircut,
    MarginCall,
    MarginPolicy,
    PriceSnapshot,
)
from financing.approvals.models import ApprovalRequest
from tests.conftest import NOW

D = Decimal
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen")]
ISO = "2026-11-21T09:30:00Z"


@pytest.fixture
def market(btc, usdc, price, risk, now):
    services.haircut_set(actor=risk, asset=usdc, haircut=D("0.05"), now=now)
    price(btc, "50000")
    price(usdc, "1")


@pytest.fixture
def loan(market, book, top_up, usdc):
    loan = book()
    top_up(loan, usdc, "1000000")
    return loan


def test_post_one_price_and_many(api, ops, btc, usdc):
    c = api(ops)
    r = c.post(
        "/api/prices/",
        {"asset": "BTC", "price_usd": "97000.5", "as_of": ISO, "source": "desk-feed"},
        format="json",
    )
    assert r.status_code == 201, r.json()
    assert r.json() == {"stored": 1, "duplicates": 0}
    r = c.post(
        "/api/prices/",
        [
            {"asset": "BTC", "price_usd": "97000.5", "as_of": ISO, "source": "desk-feed"},
            {"asset": "USDC", "price_usd": "0.9998", "as_of": ISO, "source": "desk-feed"},
        ],
        format="json",
    )
    assert r.status_code == 201 and r.json() == {"stored": 1, "duplicates": 1}
    assert PriceSnapshot.objects.get(asset=btc).price_usd == D("97000.5")
    latest = {p["asset"]: p for p in c.get("/api/prices/latest/").json()["results"]}
    assert latest["USDC"]["price_usd"] == "0.9998"
    assert latest["BTC"]["age_seconds"] == 0 and latest["BTC"]["stale"] is False


def test_latest_price_goes_stale_after_fifteen_minutes(api, ops, btc, price):
    price(btc, "97000", at=NOW - timedelta(minutes=16))
    (row,) = api(ops).get("/api/prices/latest/").json()["results"]
    assert row["stale"] is True and row["age_seconds"] == 960


def test_manual_price_needs_approval(api, ops, risk, btc):
    r = api(ops).post(
        "/api/prices/",
        {
            "asset": "BTC",
            "price_usd": "96000",
            "as_of": ISO,
            "source": "manual",
            "reason": "feed down",
        },
        format="json",
    )
    assert r.status_code == 202
    assert not PriceSnapshot.objects.exists()
    r = api(risk).post(f"/api/approvals/{r.json()['approval']}/approve/", {}, format="json")
    assert r.status_code == 200, r.json()
    snap = PriceSnapshot.objects.get()
    assert (snap.source, snap.price_usd, snap.created_by) == ("manual", D("96000"), ops)


@pytest.mark.parametrize(
    "body, field",
    [
        ({"asset": "BTC", "price_usd": 97000, "as_of": ISO, "source": "x"}, "price_usd"),
        ({"asset": "BTC", "price_usd": "-1", "as_of": ISO, "source": "x"}, "price_usd"),
        ({"asset": "BTC", "price_usd": "NaN", "as_of": ISO, "source": "x"}, "price_usd"),
        ({"asset": "NOPE", "price_usd": "1", "as_of": ISO, "source": "x"}, "asset"),
        ({"asset": "BTC", "price_usd": "1", "as_of": "yesterday", "source": "x"}, "as_of"),
        (
            {"asset": "BTC", "price_usd": "1", "as_of": "2027-01-01T00:00:00Z", "source": "x"},
            "as_of",
        ),
        ({"asset": "BTC", "price_usd": "1", "as_of": ISO, "source": "Bad Source!"}, "source"),
        ({"asset": "BTC", "price_usd": "1", "as_of": ISO, "source": "x", "extra": 1}, "extra"),
    ],
)
def test_bad_price_is_400_and_writes_nothing(api, ops, btc, body, field):
    r = api(ops).post("/api/prices/", body, format="json")
    assert r.status_code == 400, r.json()
    assert field in r.json()
    assert not PriceSnapshot.objects.exists()


def test_one_bad_price_in_a_list_writes_none(api, ops, btc):
    r = api(ops).post(
        "/api/prices/",
        [
            {"asset": "BTC", "price_usd": "1", "as_of": ISO, "source": "x"},
            {"asset": "BTC", "price_usd": "0", "as_of": ISO, "source": "y"},
        ],
        format="json",
    )
    assert r.status_code == 400
    assert not PriceSnapshot.objects.exists()


def test_haircuts_most_specific_wins(api, risk, ops, loan, usdc, venue, cp, value):
    c = api(risk)
    assert (
        c.post(
            "/api/haircuts/", {"asset": "USDC", "haircut": "0.10", "venue": "CUST1"}, format="json"
        ).status_code
        == 201
    )
    assert D(value(loan).lines[0]["haircut"]) == D("0.10")
    assert (
        c.post(
            "/api/haircuts/",
            {"asset": "USDC", "haircut": "0.20", "counterparty": "ACME"},
            format="json",
        ).status_code
        == 201
    )
    assert D(value(loan).lines[0]["haircut"]) == D("0.20")
    r = c.post(
        "/api/haircuts/",
        {"asset": "USDC", "haircut": "0.30", "counterparty": "ACME", "venue": "CUST1"},
        format="json",
    )
    assert r.status_code == 201 and r.json()["scope"] == "venue + counterparty"
    v = value(loan)
    assert D(v.lines[0]["haircut"]) == D("0.30") and v.lines[0]["haircut_scope"] == (
        "venue+counterparty"
    )
    assert v.collateral_value_usd == D("700000")
    assert (
        api(ops)
        .post("/api/haircuts/", {"asset": "USDC", "haircut": "0.5"}, format="json")
        .status_code
        == 403
    )
    assert (
        api(risk)
        .post("/api/haircuts/", {"asset": "USDC", "haircut": "1.5"}, format="json")
        .status_code
        == 400
    )
    assert Haircut.objects.count() == 4


def test_policy_precedence_loan_over_counterparty_over_asset(api, risk, loan, btc, value):
    c = api(risk)
    terms = {
        "initial_ltv": "0.50",
        "warning_ltv": "0.55",
        "call_ltv": "0.60",
        "liquidation_ltv": "0.70",
        "release_ltv": "0.40",
        "cure_hours": 12,
    }
    assert (
        c.post("/api/margin-policies/", {**terms, "asset": "BTC"}, format="json").status_code == 201
    )
    assert value(loan).call_ltv == D("0.60")
    assert (
        c.post(
            "/api/margin-policies/",
            {**terms, "counterparty": "ACME", "call_ltv": "0.62"},
            format="json",
        ).status_code
        == 201
    )
    assert value(loan).call_ltv == D("0.62")
    loan.call_ltv = D("0.66")
    loan.save(update_fields=["call_ltv"])
    v = value(loan)
    assert v.call_ltv == D("0.66") and v.initial_ltv == D("0.50")
    bad = c.post("/api/margin-policies/", {**terms, "call_ltv": "0.50"}, format="json")
    assert bad.status_code == 400
    assert MarginPolicy.objects.count() == 2


def test_top_up_release_and_valuation(api, ops, risk, loan, usdc):
    c = api(ops)
    r = c.post(
        f"/api/loans/{loan.pk}/collateral/",
        {"asset": "USDC", "quantity": "100000", "venue": "CUST1", "kind": "top_up"},
        format="json",
    )
    assert r.status_code == 201, r.json()
    assert r.json()["valuation"]["collateral_value_usd"] == "1045000"
    positions = c.get(f"/api/loans/{loan.pk}/collateral/").json()["results"]
    assert positions[0]["quantity"] == "1100000"
    # LTV 500000/1045000 = 47.8% is below the 50% release level: up to 1045000 - 500000/0.65
    # = 275,769.23 of value may go back; 100,000 USDC (95,000 of value) is fine.
    r = c.post(
        f"/api/loans/{loan.pk}/collateral/",
        {"asset": "USDC", "quantity": "100000", "venue": "CUST1", "kind": "release"},
        format="json",
    )
    assert r.status_code == 202, r.json()
    pos = CollateralPosition.objects.get(loan=loan)
    assert pos.quantity == D("1100000")  # nothing moves before approval
    assert api(ops).post(f"/api/approvals/{r.json()['approval']}/approve/").status_code == 403
    assert api(risk).post(f"/api/approvals/{r.json()['approval']}/approve/").status_code == 200
    pos.refresh_from_db()
    assert pos.quantity == D("1000000")
    v = c.get(f"/api/loans/{loan.pk}/valuation/").json()
    assert v["ltv"] == "0.526315789473684211" and v["stale"] is False
    assert {p["asset"] for p in v["prices"]} == {"BTC", "USDC"}
    assert v["haircuts"][0]["haircut"] == "0.05"


def test_release_that_would_breach_initial_ltv_is_refused(api, ops, loan):
    r = api(ops).post(
        f"/api/loans/{loan.pk}/collateral/",
        {"asset": "USDC", "quantity": "500000", "venue": "CUST1", "kind": "release"},
        format="json",
    )
    assert r.status_code == 409
    assert not ApprovalRequest.objects.filter(action="collateral.release").exists()


@pytest.mark.parametrize(
    "body, field",
    [
        ({"asset": "USDC", "quantity": "-5", "venue": "CUST1", "kind": "top_up"}, "quantity"),
        (
            {"asset": "USDC", "quantity": "0.0000001", "venue": "CUST1", "kind": "top_up"},
            "quantity",
        ),
        ({"asset": "USDC", "quantity": "1e30", "venue": "CUST1", "kind": "top_up"}, "quantity"),
        ({"asset": "USDC", "quantity": 5, "venue": "CUST1", "kind": "top_up"}, "quantity"),
        ({"asset": "XXX", "quantity": "5", "venue": "CUST1", "kind": "top_up"}, "asset"),
        ({"asset": "USDC", "quantity": "5", "venue": "NOWHERE", "kind": "top_up"}, "venue"),
        ({"asset": "USDC", "quantity": "5", "venue": "CUST1", "kind": "gift"}, "kind"),
    ],
)
def test_bad_movement_is_400_and_writes_nothing(api, ops, loan, body, field):
    before = CollateralMovement.objects.count()
    r = api(ops).post(f"/api/loans/{loan.pk}/collateral/", body, format="json")
    assert r.status_code == 400, r.json()
    assert field in r.json()
    assert CollateralMovement.objects.count() == before


def test_substitution_both_legs_or_neither(api, ops, loan, btc, venue2, usdc, risk, now):
    services.haircut_set(actor=risk, asset=btc, haircut=D("0.20"), now=now)
    c = api(ops)
    # Too much out: refused, nothing moved (not even the "in" leg).
    r = c.post(
        f"/api/loans/{loan.pk}/collateral/substitute/",
        {
            "out": {"asset": "USDC", "venue": "CUST1", "quantity": "2000000"},
            "in": {"asset": "BTC", "venue": "EXCH1", "quantity": "25"},
        },
        format="json",
    )
    assert r.status_code == 409
    assert not CollateralPosition.objects.filter(asset=btc).exists()
    # A swap leaving LTV above the initial LTV and worse than before: refused, nothing moved.
    r = c.post(
        f"/api/loans/{loan.pk}/collateral/substitute/",
        {
            "out": {"asset": "USDC", "venue": "CUST1", "quantity": "900000"},
            "in": {"asset": "BTC", "venue": "EXCH1", "quantity": "1"},
        },
        format="json",
    )
    assert r.status_code == 409
    assert CollateralPosition.objects.get(asset=usdc).quantity == D("1000000")
    assert not CollateralMovement.objects.filter(kind__startswith="substitution").exists()
    # 500,000 USDC (475,000 of value) out, 12 BTC (12 x 50,000 x 0.8 = 480,000) in: allowed.
    r = c.post(
        f"/api/loans/{loan.pk}/collateral/substitute/",
        {
            "out": {"asset": "USDC", "venue": "CUST1", "quantity": "500000"},
            "in": {"asset": "BTC", "venue": "EXCH1", "quantity": "12"},
        },
        format="json",
    )
    assert r.status_code == 201, r.json()
    moves = CollateralMovement.objects.filter(kind__startswith="substitution")
    assert moves.count() == 2 and len({m.group for m in moves}) == 1
    assert r.json()["valuation"]["collateral_value_usd"] == "955000"


def test_margin_call_api_flow(api, ops, risk, loan, btc, usdc, price):
    t = NOW + timedelta(minutes=5)
    with freeze_time(t):
        price(btc, "75000", at=t)
        price(usdc, "1", at=t)
        revalue(now=t)
        c = api(risk)
        calls = c.get(f"/api/margin-calls/?loan={loan.pk}&status=open").json()
        assert calls["count"] == 1
        call = calls["results"][0]
        assert call["ltv"] == "0.789473684210526316"
        assert call["required_top_up_usd"] == "203846.153846153846153846"
        assert call["deadline"] == "2026-11-22T09:35:00Z"
        detail = c.get(f"/api/margin-calls/{call['id']}/").json()
        assert [e["kind"] for e in detail["events"]] == ["opened"]
        assert detail["notices"][0]["kind"] == "call"
        r = api(ops).post(
            f"/api/margin-calls/{call['id']}/top-up/",
            {"asset": "USDC", "quantity": "214575", "venue": "CUST1"},
            format="json",
        )
        assert r.status_code == 201, r.json()
        assert r.json()["status"] == "met"
        assert (
            api(ops)
            .post(f"/api/margin-calls/{call['id']}/escalate/", {"reason": "x"}, format="json")
            .status_code
            == 409
        )


def test_liquidation_sells_down_to_initial_ltv(api, risk, loan, btc, usdc, price):
    t = NOW + timedelta(minutes=5)
    with freeze_time(t):
        # BTC at 85,000: exposure 850,000 against 950,000 of value: LTV 89.5%, liquidation
        price(btc, "85000", at=t)
        price(usdc, "1", at=t)
        revalue(now=t)
        call = MarginCall.objects.get(loan=loan)
        assert call.status == "liquidation"
        r = api(risk).post(f"/api/margin-calls/{call.pk}/liquidate/", {}, format="json")
        assert r.status_code == 201, r.json()
        liq = r.json()["liquidation"]
        # x = (850000 - 0.65 x 950000) / (1 - 0.65 x 1 x 0.95) = 232,500 / 0.3825
        #   = 607,843.137254... USDC, which repays 7.151095732... BTC at 85,000: 7.15109574 BTC
        #   (rounded up to BTC's 8 decimals) takes 607,843.1379 USDC
        assert liq["quantity_sold"] == "607843.1379"
        assert liq["proceeds_usd"] == "607843.1379"
        assert liq["applied_principal"] == "7.15109574"
        assert liq["surplus_loan_asset"] == "0"
        assert D(liq["ltv_after"]) <= D("0.65")
        assert r.json()["closed_at"] is not None
        loan.refresh_from_db()
        assert loan.outstanding_principal == D("2.84890426")


ROLES = ["ops", "risk", "treasury", "compliance", "trading", "auditor", "admin"]
STAFF = set(ROLES) - {"trading"}


@pytest.mark.parametrize("role", ROLES)
def test_permission_matrix(api, make_user, role, loan):
    c = api(make_user(role))
    reads = [
        "/api/prices/",
        "/api/prices/latest/",
        "/api/haircuts/",
        "/api/margin-policies/",
        f"/api/loans/{loan.pk}/collateral/",
        f"/api/loans/{loan.pk}/valuation/",
        "/api/margin-calls/",
        "/api/collateral/positions/",
        "/api/collateral/movements/",
        "/api/revaluation-runs/",
        "/api/counterparties/ACME/collateral/",
    ]
    for url in reads:
        code = c.get(url).status_code
        if role in STAFF:
            assert code in (200, 404), (url, code)
        else:
            assert code == 403, (url, code)
    writes = {
        "/api/prices/": (
            {"asset": "BTC", "price_usd": "1", "as_of": ISO, "source": "p"},
            {"ops", "risk", "admin"},
        ),
        "/api/haircuts/": ({"asset": "BTC", "haircut": "0.1"}, {"risk", "admin"}),
        f"/api/loans/{loan.pk}/collateral/": (
            {"asset": "USDC", "quantity": "1", "venue": "CUST1", "kind": "top_up"},
            {"ops", "risk", "admin"},
        ),
    }
    for url, (body, allowed) in writes.items():
        code = c.post(url, body, format="json").status_code
        assert (code in (200, 201)) == (role in allowed), (url, code)
        if role not in allowed:
            assert code == 403


def test_unauthenticated_is_401(api):
    assert api().get("/api/margin-calls/").status_code == 401
