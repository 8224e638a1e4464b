"""Concentration limits: exposure by counterparty, asset and tenor bucket (figures by hand),
breach alerts, and the extra approval for a booking past a hard limit."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from collateral import limits
from collateral.limits import (
    limit_set,
    limits_booking_check,
    limits_check,
    limits_exposure,
    limits_usage,
    tenor_bucket,
)
from collateral.models import ConcentrationLimit
from financing.alerts.models import Alert
from financing.approvals.models import ApprovalRequest
from financing.approvals.services import approval_approve
from financing.errors import Conflict, Forbidden, InvalidInput
from financing.jobs import registry as jobs
from loans import hooks
from loans import services as loan_services
from loans.accrual import accruals_book_through
from tests.conftest import NOW
from tests.factories import AssetFactory, CounterpartyFactory, UserFactory

D = Decimal
TODAY = NOW.date()
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen")]


@pytest.fixture
def market(btc, eth, usdc, price):
    """BTC 50,000, ETH 4,000, USDC 1 USD."""
    price(btc, "50000")
    price(eth, "4000")
    price(usdc, "1")


@pytest.fixture
def beta(db):
    return CounterpartyFactory(code="BETA", kyc_expires_on=TODAY.replace(year=2030))


@pytest.fixture
def lend_book(market, book, beta, btc, eth, usdc, ops):
    """The lend book, by hand:
        ACME  10 BTC   open               10 x 50,000 = 500,000   open
        ACME  100 ETH  matures in 30 days 100 x 4,000 = 400,000   0-30d
        BETA  200,000 USDC, in 31 days    200,000 x 1 = 200,000   31-90d
    plus what must not count: a borrow loan (BETA, 5 BTC) and a loan pending approval."""
    loans = [
        book(),
        book(asset=eth, principal=D("100"), term="fixed", maturity_date=TODAY + timedelta(30)),
        book(
            counterparty=beta,
            asset=usdc,
            principal=D("200000"),
            term="fixed",
            maturity_date=TODAY + timedelta(31),
        ),
        book(counterparty=beta, direction="borrow", principal=D("5")),
    ]
    loan_services.loan_book(
        actor=ops,
        now=NOW,
        counterparty=beta,
        direction="lend",
        asset=btc,
        principal=D("1"),
        rate=D("0.05"),
        day_count="ACT/365F",
        term="open",
        start_date=TODAY,
    )
    return loans


@pytest.fixture
def checker2(db):
    return UserFactory(role="risk", username="c-risk-2")


def _set(actor, kind, key, soft, hard):
    return limit_set(
        actor=actor, kind=kind, key=key, soft_limit_usd=D(soft), hard_limit_usd=D(hard), now=NOW
    )


# ---------------------------------------------------------------- exposure


def test_exposure_by_counterparty_asset_and_tenor(lend_book):
    e = limits_exposure(NOW)
    cp = {k: (g["exposure_usd"], g["loans"]) for k, g in e["counterparty"].items()}
    assert cp == {"ACME": (D("900000"), 2), "BETA": (D("200000"), 1)}
    assert {k: g["exposure_usd"] for k, g in e["asset"].items()} == {
        "BTC": D("500000"),
        "ETH": D("400000"),
        "USDC": D("200000"),
    }
    assert {k: g["exposure_usd"] for k, g in e["tenor"].items()} == {
        "open": D("500000"),
        "0-30d": D("400000"),
        "31-90d": D("200000"),
    }


def test_exposure_includes_accrued_unsettled_interest(market, book):
    loan = book(start_date=TODAY - timedelta(days=10))
    accruals_book_through(through=TODAY - timedelta(days=1), now=NOW)
    # 10 BTC x 5% / 365 = 0.001369863013698630|137 a day (18 places, half-even) x 10 days
    # = 0.0136986301369863 BTC accrued; (10.0136986301369863) x 50,000 = 500,684.931506849315
    e = limits_exposure(NOW)
    assert e["counterparty"]["ACME"]["exposure_usd"] == D("500684.931506849315")
    assert e["tenor"]["open"]["loans"] == 1 and loan.term == "open"


def test_unpriced_asset_counts_its_loans_but_no_usd(market, book):
    sol = AssetFactory(symbol="SOL", decimals=9)
    book(asset=sol, principal=D("1000"))
    book()
    e = limits_exposure(NOW)
    assert e["asset"]["SOL"] == {"exposure_usd": D("0"), "loans": 1, "unpriced_loans": 1}
    assert e["counterparty"]["ACME"] == {
        "exposure_usd": D("500000"),
        "loans": 2,
        "unpriced_loans": 1,
    }


@pytest.mark.parametrize(
    "days, bucket",
    [
        (-5, "0-30d"),
        (0, "0-30d"),
        (1, "0-30d"),
        (30, "0-30d"),
        (31, "31-90d"),
        (90, "31-90d"),
        (91, "91-180d"),
        (180, "91-180d"),
        (181, "181d+"),
        (3000, "181d+"),
    ],
)
def test_tenor_bucket_edges(days, bucket):
    assert tenor_bucket("fixed", TODAY + timedelta(days=days), TODAY) == bucket
    assert tenor_bucket("open", None, TODAY) == "open"


def test_tenor_buckets_in_sql_match_the_edges(market, book):
    # Fixed loans maturing 0, 30, 31, 90, 91, 180 and 181 days ahead (the first one started
    # ten days ago so that it can mature today), 1 BTC = 50,000 USD each.
    for days in (0, 30, 31, 90, 91, 180, 181):
        book(
            principal=D("1"),
            term="fixed",
            start_date=TODAY - timedelta(days=10),
            maturity_date=TODAY + timedelta(days=days),
        )
    e = limits_exposure(NOW)["tenor"]
    assert {k: g["loans"] for k, g in e.items()} == {
        "0-30d": 2,
        "31-90d": 2,
        "91-180d": 2,
        "181d+": 1,
    }


# ---------------------------------------------------------------- setting limits


def test_limit_set_resolves_keys_and_replaces(risk, market, cp, beta):
    row = _set(risk, "counterparty", "acme", "800000", "1000000")
    assert row.key == "ACME"
    again = _set(risk, "counterparty", "ACME", "700000", "900000")
    assert again.pk == row.pk and again.hard_limit_usd == D("900000")
    assert _set(risk, "asset", "btc", "1", "1").key == "BTC"
    assert _set(risk, "tenor", "0-30D", "1", "2").key == "0-30d"
    assert ConcentrationLimit.objects.count() == 3


@pytest.mark.parametrize(
    "kind, key, soft, hard, field",
    [
        ("counterparty", "NOPE", "1", "2", "key"),
        ("asset", "DOGE", "1", "2", "key"),
        ("tenor", "2y", "1", "2", "key"),
        ("desk", "X", "1", "2", "kind"),
        ("counterparty", "ACME", "0", "2", "soft_limit_usd"),
        ("counterparty", "ACME", "2", "1", "hard_limit_usd"),
        ("counterparty", "ACME", "1.001", "2", "soft_limit_usd"),
    ],
)
def test_bad_limits_are_refused(risk, cp, btc, kind, key, soft, hard, field):
    with pytest.raises(InvalidInput) as exc:
        _set(risk, kind, key, soft, hard)
    assert field in exc.value.errors
    assert not ConcentrationLimit.objects.exists()


def test_only_risk_and_admin_set_limits(cp):
    for role in ("ops", "treasury", "compliance", "trading", "auditor"):
        with pytest.raises(Forbidden):
            _set(UserFactory(role=role), "counterparty", "ACME", "1", "2")
    assert _set(UserFactory(role="admin"), "counterparty", "ACME", "1", "2").pk


def test_usage_status_and_utilisation(lend_book, risk):
    _set(risk, "counterparty", "ACME", "800000", "1000000")  # 900,000: over soft
    _set(risk, "asset", "BTC", "400000", "450000")  # 500,000: over hard
    _set(risk, "tenor", "31-90d", "250000", "300000")  # 200,000: fine
    u = {(x["kind"], x["key"]): x for x in limits_usage(NOW)}
    acme = u[("counterparty", "ACME")]
    assert acme["status"] == "soft" and acme["utilisation"] == D("0.9")
    assert acme["headroom_usd"] == D("100000")
    assert u[("asset", "BTC")]["status"] == "hard"
    assert u[("asset", "BTC")]["utilisation"] == D("1.111111")  # 500000 / 450000
    assert u[("tenor", "31-90d")]["status"] == "ok"


# ---------------------------------------------------------------- alerts


def _live():
    return dict(
        Alert.objects.filter(kind="limit_breach")
        .exclude(status="resolved")
        .values_list("dedupe_key", "severity")
    )


def test_breach_alerts_raised_escalated_and_resolved(lend_book, risk):
    _set(risk, "counterparty", "ACME", "800000", "1000000")
    _set(risk, "asset", "USDC", "100000", "150000")  # 200,000: over hard
    _set(risk, "tenor", "open", "600000", "700000")  # 500,000: fine
    result = limits_check(now=NOW)
    assert result["over_soft"] == 1 and result["over_hard"] == 1
    assert _live() == {
        "limit_breach:counterparty:ACME": "warning",
        "limit_breach:asset:USDC": "critical",
    }
    # Run again: the same alerts, seen twice, nothing new.
    assert limits_check(now=NOW)["alerts_raised"] == 0
    assert Alert.objects.filter(kind="limit_breach").count() == 2
    acme = Alert.objects.get(dedupe_key="limit_breach:counterparty:ACME")
    assert acme.occurrences == 2 and "900,000.00 USD" in acme.title
    # ACME's hard limit lowered under its exposure: the warning gives way to a critical alert.
    _set(risk, "counterparty", "ACME", "800000", "850000")
    limits_check(now=NOW + timedelta(hours=1))
    assert _live()["limit_breach:counterparty:ACME"] == "critical"
    acme.refresh_from_db()
    assert acme.status == "resolved"
    # Limits raised above exposure: both resolved.
    _set(risk, "counterparty", "ACME", "950000", "1000000")
    _set(risk, "asset", "USDC", "200000", "300000")  # exactly at soft: not over it
    result = limits_check(now=NOW + timedelta(hours=2))
    assert _live() == {} and result["alerts_resolved"] == 2


def test_check_limits_job_is_registered(lend_book, risk):
    _set(risk, "counterparty", "ACME", "800000", "1000000")
    job = jobs.get("check_limits")
    assert job.schedule is not None and job.lock == "check_limits"
    assert job.run(now=NOW)["over_soft"] == 1


# ---------------------------------------------------------------- the booking check


def _book(ops, **terms):
    values = {
        "counterparty": None,
        "direction": "lend",
        "asset": None,
        "principal": D("1"),
        "rate": D("0.05"),
        "day_count": "ACT/365F",
        "term": "open",
        "start_date": TODAY,
    }
    values.update(terms)
    return loan_services.loan_book(actor=ops, now=NOW, **values)


def test_booking_check_is_registered():
    assert limits_booking_check in hooks.booking_checks()


def test_booking_past_a_hard_limit_needs_a_second_checker(lend_book, ops, risk, checker2, cp, btc):
    _set(risk, "counterparty", "ACME", "800000", "1000000")
    # ACME has 900,000; 4 BTC more = 200,000 -> 1,100,000 > 1,000,000
    loan = _book(ops, counterparty=cp, asset=btc, principal=D("4"))
    approval = ApprovalRequest.objects.get(pk=loan.approval_id)
    assert approval.required_approvals == 2
    (flag,) = approval.payload["booking_flags"]
    assert "hard limit of counterparty ACME" in flag
    assert "900,000.00 USD on the book" in flag and "1,100,000.00 USD" in flag
    assert approval.payload["extra_approvals"] == 1
    assert "+1 approval" in approval.summary and "ACME" in approval.reason
    approval_approve(approval_id=approval.pk, checker=risk, now=NOW)
    loan.refresh_from_db()
    assert loan.status == "pending_approval"
    with pytest.raises(Conflict):
        approval_approve(approval_id=approval.pk, checker=risk, now=NOW)
    approval_approve(approval_id=approval.pk, checker=checker2, now=NOW)
    loan.refresh_from_db()
    assert loan.status == "active"


def test_booking_under_the_limit_needs_one_approval(lend_book, ops, risk, cp, btc):
    _set(risk, "counterparty", "ACME", "2000000", "3000000")
    loan = _book(ops, counterparty=cp, asset=btc, principal=D("4"))
    approval = ApprovalRequest.objects.get(pk=loan.approval_id)
    assert approval.required_approvals == 1
    assert "booking_flags" not in approval.payload
    approval_approve(approval_id=approval.pk, checker=risk, now=NOW)
    loan.refresh_from_db()
    assert loan.status == "active"


def test_booking_past_soft_only_is_a_note(lend_book, ops, risk, cp, btc):
    _set(risk, "counterparty", "ACME", "800000", "1000000")
    # 900,000 + 1 BTC = 950,000: over soft, under hard
    loan = _book(ops, counterparty=cp, asset=btc, principal=D("1"))
    approval = ApprovalRequest.objects.get(pk=loan.approval_id)
    assert approval.required_approvals == 1
    assert "soft limit" in approval.payload["booking_flags"][0]


def test_loans_pending_approval_count_against_the_limit(lend_book, ops, risk, cp, btc):
    _set(risk, "counterparty", "ACME", "800000", "1000000")
    first = _book(ops, counterparty=cp, asset=btc, principal=D("1"))  # 950,000
    assert ApprovalRequest.objects.get(pk=first.approval_id).required_approvals == 1
    # 900,000 live + 50,000 pending + 75,000 = 1,025,000 > 1,000,000
    second = _book(ops, counterparty=cp, asset=btc, principal=D("1.5"))
    approval = ApprovalRequest.objects.get(pk=second.approval_id)
    assert approval.required_approvals == 2
    assert "50,000.00 USD pending approval" in approval.payload["booking_flags"][0]


def test_asset_and_tenor_limits_count_and_one_extra_approval_is_enough(
    lend_book, ops, risk, cp, eth
):
    _set(risk, "asset", "ETH", "400000", "450000")  # 400,000 + 100,000
    _set(risk, "tenor", "0-30d", "400000", "450000")  # 400,000 + 100,000
    loan = _book(
        ops,
        counterparty=cp,
        asset=eth,
        principal=D("25"),
        term="fixed",
        maturity_date=TODAY + timedelta(days=20),
    )
    approval = ApprovalRequest.objects.get(pk=loan.approval_id)
    assert approval.required_approvals == 2  # one extra, whatever the number of limits
    flags = approval.payload["booking_flags"]
    assert len(flags) == 2
    assert any("asset ETH" in f for f in flags) and any("tenor 0-30d" in f for f in flags)


def test_borrow_loans_and_other_buckets_are_not_checked(lend_book, ops, risk, cp, btc):
    _set(risk, "counterparty", "ACME", "1", "1")
    loan = _book(ops, counterparty=cp, asset=btc, principal=D("100"), direction="borrow")
    assert ApprovalRequest.objects.get(pk=loan.approval_id).required_approvals == 1


def test_booking_without_a_price_says_the_limits_were_not_checked(market, ops, risk, cp):
    sol = AssetFactory(symbol="SOL", decimals=9)
    _set(risk, "asset", "SOL", "1", "1")
    loan = _book(ops, counterparty=cp, asset=sol, principal=D("1000"))
    approval = ApprovalRequest.objects.get(pk=loan.approval_id)
    assert approval.required_approvals == 1
    assert "could not be checked" in approval.payload["booking_flags"][0]


def test_no_limits_no_flags(lend_book, ops, cp, btc):
    assert (
        limits_booking_check(
            counterparty=cp,
            asset=btc,
            direction="lend",
            principal=D("1000"),
            term="open",
            start_date=TODAY,
            maturity_date=None,
            now=NOW,
        )
        == []
    )


# ---------------------------------------------------------------- API


def test_api_set_list_and_exposure(api, risk, lend_book):
    c = api(risk)
    r = c.post(
        "/api/limits/",
        {
            "kind": "counterparty",
            "key": "acme",
            "soft_limit_usd": "800000",
            "hard_limit_usd": "1000000",
        },
        format="json",
    )
    assert r.status_code == 201, r.json()
    assert r.json()["key"] == "ACME" and r.json()["hard_limit_usd"] == "1000000"
    c.post(
        "/api/limits/",
        {"kind": "asset", "key": "BTC", "soft_limit_usd": "400000", "hard_limit_usd": "450000"},
        format="json",
    )
    assert c.get("/api/limits/").json()["count"] == 2
    assert c.get("/api/limits/?kind=asset").json()["count"] == 1
    body = c.get("/api/limits/exposure/").json()
    rows = {(x["kind"], x["key"]): x for x in body["results"]}
    acme = rows[("counterparty", "ACME")]
    assert acme["exposure_usd"] == "900000" and acme["status"] == "soft"
    assert acme["utilisation"] == "0.9" and acme["soft_limit_usd"] == "800000"
    assert rows[("asset", "BTC")]["status"] == "hard"
    assert body["book"]["tenor"][0] == {
        "key": "open",
        "exposure_usd": "500000",
        "loans": 1,
        "unpriced_loans": 0,
    }
    hard = c.get("/api/limits/exposure/?status=hard").json()
    assert [x["key"] for x in hard["results"]] == ["BTC"]
    assert c.get("/api/limits/exposure/?status=bogus").status_code == 400


@pytest.mark.parametrize(
    "body, field",
    [
        (
            {"kind": "counterparty", "key": "NOPE", "soft_limit_usd": "1", "hard_limit_usd": "2"},
            "key",
        ),
        ({"kind": "desk", "key": "X", "soft_limit_usd": "1", "hard_limit_usd": "2"}, "kind"),
        (
            {"kind": "asset", "key": "BTC", "soft_limit_usd": 1, "hard_limit_usd": "2"},
            "soft_limit_usd",
        ),
        (
            {"kind": "asset", "key": "BTC", "soft_limit_usd": "3", "hard_limit_usd": "2"},
            "hard_limit_usd",
        ),
    ],
)
def test_api_bad_limit_is_400_and_writes_nothing(api, risk, btc, cp, body, field):
    r = api(risk).post("/api/limits/", body, format="json")
    assert r.status_code == 400 and field in r.json(), r.json()
    assert not ConcentrationLimit.objects.exists()


ROLES = ["ops", "risk", "treasury", "compliance", "trading", "auditor", "admin"]
STAFF = set(ROLES) - {"trading"}


@pytest.mark.parametrize("role", ROLES)
def test_permission_matrix(api, make_user, role, cp, btc):
    c = api(make_user(role))
    for url in ("/api/limits/", "/api/limits/exposure/"):
        assert c.get(url).status_code == (200 if role in STAFF else 403), url
    r = c.post(
        "/api/limits/",
        {"kind": "asset", "key": "BTC", "soft_limit_usd": "1", "hard_limit_usd": "2"},
        format="json",
    )
    assert r.status_code == (201 if role in {"risk", "admin"} else 403)
    assert ConcentrationLimit.objects.count() == (1 if role in {"risk", "admin"} else 0)


def test_module_registers_job_and_check_once():
    import importlib

    before = hooks.booking_checks().count(limits.limits_booking_check)
    assert before == 1
    assert jobs.get("check_limits").name == "check_limits"
    importlib.import_module("collateral.limits")
    assert hooks.booking_checks().count(limits.limits_booking_check) == 1


# ---------------------------------------------------------------- page


@pytest.mark.parametrize("role", ROLES)
def test_limits_page_by_role(page, make_user, role, lend_book, risk):
    _set(risk, "counterparty", "ACME", "800000", "1000000")
    c = page(make_user(role))
    r = c.get("/risk/limits/")
    assert r.status_code == (200 if role in STAFF else 403)
    if role in STAFF:
        html = r.content.decode()
        assert "900,000.00 USD" in html and "over soft" in html and "lim-bar soft" in html
        assert ('data-testid="limit-form"' in html) == (role in {"risk", "admin"})
        assert "Largest exposures without a limit" in html and "500,000.00 USD" in html
    post = c.post(
        "/risk/limits/",
        {"kind": "asset", "key": "BTC", "soft_limit_usd": "1", "hard_limit_usd": "2"},
    )
    assert post.status_code == (302 if role in {"risk", "admin"} else 403)


def test_limits_page_sets_filters_and_exports(page, risk, lend_book):
    c = page(risk)
    r = c.post(
        "/risk/limits/",
        {
            "kind": "asset",
            "key": "btc",
            "soft_limit_usd": "400000",
            "hard_limit_usd": "450000",
            "reason": "cap BTC",
        },
    )
    assert r.status_code == 302
    assert ConcentrationLimit.objects.get(kind="asset").key == "BTC"
    bad = c.post(
        "/risk/limits/",
        {"kind": "asset", "key": "DOGE", "soft_limit_usd": "1", "hard_limit_usd": "2"},
    )
    assert bad.status_code == 400 and "Unknown asset" in bad.content.decode()
    assert ConcentrationLimit.objects.count() == 1
    html = c.get("/risk/limits/?status=hard").content.decode()
    assert "over hard" in html
    assert "No concentration" not in html
    assert "Nothing matches" in c.get("/risk/limits/?status=ok").content.decode()
    csv = b"".join(c.get("/risk/limits/?export=csv").streaming_content).decode().splitlines()
    assert csv[0].startswith("Kind,Applies to,Exposure") and "BTC" in csv[1]
    prefilled = c.get("/risk/limits/?set_kind=asset&set_key=BTC").content.decode()
    assert 'value="450000.00"' in prefilled
