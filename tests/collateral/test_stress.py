"""Stress tests: price shocks over the whole book, against figures computed by hand."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from collateral import services
from collateral.engine import revalue
from collateral.models import (
    LoanMarginState,
    LoanValuation,
    MarginCall,
    RevaluationRun,
    StressRun,
    StressScenario,
)
from collateral.stress import stress_run, stress_scenario_save
from financing.alerts.models import Alert
from financing.errors import Forbidden, InvalidInput
from tests.conftest import NOW
from tests.factories import CounterpartyFactory, UserFactory

D = Decimal
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen")]


@pytest.fixture
def market(btc, eth, usdc, price, risk, now):
    """BTC 50,000, ETH 4,000, USDC 1; haircuts USDC 5%, ETH 20%."""
    services.haircut_set(actor=risk, asset=usdc, haircut=D("0.05"), now=now)
    services.haircut_set(actor=risk, asset=eth, haircut=D("0.20"), now=now)
    price(btc, "50000")
    price(eth, "4000")
    price(usdc, "1")


@pytest.fixture
def btc_loan(market, book, top_up, usdc):
    """L-A: 10 BTC lent to ACME against 1,000,000 USDC.
    exposure 10 x 50,000 = 500,000; collateral 1,000,000 x 0.95 = 950,000; LTV 52.63%."""
    loan = book()
    top_up(loan, usdc, "1000000")
    return loan


@pytest.fixture
def usdc_loan(market, book, top_up, usdc, eth):
    """L-B: 1,000,000 USDC lent to BETA against 500 ETH.
    exposure 1,000,000; collateral 500 x 4,000 x 0.80 = 1,600,000; LTV 62.5%."""
    beta = CounterpartyFactory(code="BETA", kyc_expires_on=NOW.date().replace(year=2030))
    loan = book(counterparty=beta, asset=usdc, principal=D("1000000"))
    top_up(loan, eth, "500")
    return loan


@pytest.fixture
def borrow_loan(market, book, top_up, usdc, eth):
    """L-C: the firm borrows 100 ETH from ACME, posting 600,000 USDC.
    exposure 100 x 4,000 = 400,000; collateral 600,000 x 0.95 = 570,000; LTV 70.18%."""
    loan = book(direction="borrow", asset=eth, principal=D("100"))
    top_up(loan, usdc, "600000")
    return loan


@pytest.fixture
def whole_book(btc_loan, usdc_loan, borrow_loan):
    return btc_loan, usdc_loan, borrow_loan


# ---------------------------------------------------------------- figures by hand


def test_btc_down_30_makes_a_btc_loan_against_usdc_safer(btc_loan, risk, now):
    run = stress_run(actor=risk, shocks={"BTC": D("-0.30")}, now=now)
    # BTC at 35,000: exposure 350,000 against 950,000 -> LTV 36.84%: below every level.
    assert run.loans_valued == 1
    assert (run.loans_call, run.loans_liquidation) == (0, 0)
    assert run.shortfall_usd == 0 and run.top_up_usd == 0
    assert run.results == []
    assert run.prices["assets"]["BTC"]["market_price_usd"] == "50000"
    assert run.prices["assets"]["BTC"]["shocked_price_usd"] == "35000"
    assert run.shocks == {"BTC": "-0.3"}


def test_btc_up_50_puts_the_btc_loan_in_call_with_the_top_up_to_initial_ltv(btc_loan, risk, now):
    run = stress_run(actor=risk, shocks={"BTC": D("0.5")}, now=now)
    # BTC at 75,000: exposure 750,000 against 950,000.
    # LTV 750000 / 950000 = 0.789473684210526315|789 -> 0.789473684210526316 (call: 75-85%)
    # top-up to the 65% initial LTV: 750000 / 0.65 = 1,153,846.153846153846153846 - 950,000
    assert (run.loans_call, run.loans_liquidation) == (1, 0)
    assert run.shortfall_usd == D("203846.153846153846153846")
    assert run.top_up_usd == 0  # no borrow loan
    (row,) = run.results
    assert row["loan"] == btc_loan.pk and row["reference"] == f"L{btc_loan.pk}"
    assert row["counterparty"] == "ACME" and row["asset"] == "BTC"
    assert row["band"] == "call" and row["current_band"] == "ok" and row["newly"]
    assert D(row["ltv"]) == D("0.789473684210526316")
    # the current LTV from the latest revaluation: 500000 / 950000
    assert D(row["current_ltv"]) == D("0.526315789473684211")
    assert D(row["top_up_usd"]) == D("203846.153846153846153846")
    assert D(row["exposure_usd"]) == D("750000")
    assert D(row["collateral_value_usd"]) == D("950000")
    assert row["uncovered_usd"] == "0"
    assert run.prices["totals"]["uncovered_usd"] == "0"
    assert run.prices["totals"]["newly_call_or_liquidation"] == 1


def test_eth_down_30_sends_the_usdc_loan_to_liquidation(whole_book, risk, now):
    _, usdc_loan, _ = whole_book
    run = stress_run(actor=risk, shocks={"ETH": D("-0.30")}, now=now)
    # L-B: ETH at 2,800: collateral 500 x 2,800 x 0.8 = 1,120,000 against 1,000,000
    #   LTV 1000000 / 1120000 = 0.892857142857142857|14 -> liquidation (>= 85%)
    #   top-up: 1000000 / 0.65 = 1,538,461.538461538461538462 - 1,120,000 = 418,461.538...462
    # L-C (borrow): exposure 100 x 2,800 = 280,000 against 570,000: LTV 49%, fine.
    # L-A: untouched, LTV 52.63%.
    assert run.loans_valued == 3
    assert (run.loans_call, run.loans_liquidation) == (0, 1)
    assert run.shortfall_usd == D("418461.538461538461538462")
    assert run.top_up_usd == 0
    (row,) = run.results
    assert row["loan"] == usdc_loan.pk and row["band"] == "liquidation"
    assert D(row["ltv"]) == D("0.892857142857142857")
    totals = run.prices["totals"]
    assert totals["lend_liquidation"] == 1 and totals["borrow_call"] == 0
    assert totals["uncovered_usd"] == "0"  # 1,120,000 still covers 1,000,000


def test_eth_down_80_leaves_exposure_uncovered(whole_book, risk, now):
    _, usdc_loan, _ = whole_book
    run = stress_run(actor=risk, shocks={"eth": D("-0.8")}, now=now)
    # L-B: 500 x 800 x 0.8 = 320,000 against 1,000,000: uncovered 680,000;
    #   top-up 1,538,461.538461538461538462 - 320,000 = 1,218,461.538461538461538462
    assert run.shocks == {"ETH": "-0.8"}
    assert run.shortfall_usd == D("1218461.538461538461538462")
    assert run.prices["totals"]["uncovered_usd"] == "680000"
    (row,) = run.results
    assert row["loan"] == usdc_loan.pk
    assert row["uncovered_usd"] == "680000" and D(row["ltv"]) == D("3.125")


def test_borrow_side_is_reported_apart(whole_book, risk, now):
    btc_loan, usdc_loan, borrow_loan = whole_book
    run = stress_run(actor=risk, shocks={"BTC": D("0.5"), "ETH": D("0.2")}, now=now)
    # L-A: call, top-up 203,846.153846153846153846 (as above).
    # L-B: ETH at 4,800 makes its collateral worth 1,920,000: LTV 52%, fine.
    # L-C (borrow): exposure 100 x 4,800 = 480,000 against 570,000:
    #   LTV 0.842105263157894736|84 -> ...737: call; the firm would post
    #   480000 / 0.65 = 738,461.538461538461538462 - 570,000 = 168,461.538461538461538462
    assert (run.loans_call, run.loans_liquidation) == (2, 0)
    assert run.shortfall_usd == D("203846.153846153846153846")
    assert run.top_up_usd == D("168461.538461538461538462")
    totals = run.prices["totals"]
    assert (totals["lend_call"], totals["borrow_call"]) == (1, 1)
    by_loan = {r["loan"]: r for r in run.results}
    assert set(by_loan) == {btc_loan.pk, borrow_loan.pk} and usdc_loan.pk not in by_loan
    assert by_loan[borrow_loan.pk]["direction"] == "borrow"
    assert D(by_loan[borrow_loan.pk]["ltv"]) == D("0.842105263157894737")
    # worst first: the higher LTV leads
    assert run.results[0]["loan"] == borrow_loan.pk


def test_a_loan_already_in_call_is_not_newly_crossing(btc_loan, btc, price, risk, now):
    later = now + timedelta(minutes=1)
    price(btc, "75000", at=later)
    revalue(now=later)  # LTV 78.95%: a call is open
    call = MarginCall.objects.get(loan=btc_loan)
    # +1%: 75,750 x 10 = 757,500 / 950,000 = 79.74%: still call, not newly
    run = stress_run(actor=risk, shocks={"BTC": D("0.01")}, now=later)
    (row,) = run.results
    assert (row["current_band"], row["band"], row["newly"]) == ("call", "call", False)
    assert run.prices["totals"]["newly_call_or_liquidation"] == 0
    # +10%: 82,500 x 10 = 825,000 / 950,000 = 86.84%: newly at liquidation
    run = stress_run(actor=risk, shocks={"BTC": D("0.1")}, now=later)
    (row,) = run.results
    assert (row["current_band"], row["band"], row["newly"]) == ("call", "liquidation", True)
    assert run.prices["totals"]["newly_liquidation"] == 1
    call.refresh_from_db()
    assert call.status == "open"  # the stress test moves no call


def test_a_stress_run_changes_nothing_on_the_book(whole_book, risk, now):
    before = (
        LoanValuation.objects.count(),
        RevaluationRun.objects.count(),
        list(LoanMarginState.objects.order_by("loan_id").values_list("loan_id", "ltv", "band")),
        Alert.objects.count(),
    )
    stress_run(actor=risk, shocks={"ETH": D("-0.9"), "BTC": D("3")}, now=now)
    after = (
        LoanValuation.objects.count(),
        RevaluationRun.objects.count(),
        list(LoanMarginState.objects.order_by("loan_id").values_list("loan_id", "ltv", "band")),
        Alert.objects.count(),
    )
    assert after == before
    assert not MarginCall.objects.exists()
    assert StressRun.objects.count() == 1


def test_query_count_does_not_grow_with_the_book(market, book, top_up, usdc, risk, now):
    loan = book()
    top_up(loan, usdc, "1000000")
    with CaptureQueriesContext(connection) as few:
        stress_run(actor=risk, shocks={"BTC": D("0.5")}, now=now)
    for _ in range(4):
        more = book()
        top_up(more, usdc, "1000000")
    with CaptureQueriesContext(connection) as many:
        run = stress_run(actor=risk, shocks={"BTC": D("0.5")}, now=now)
    assert run.loans_valued == 5 and run.loans_call == 5
    assert len(many) == len(few) <= 20


# ---------------------------------------------------------------- input and permissions


@pytest.mark.parametrize(
    "shocks",
    [
        {},
        {"DOGE": D("-0.1")},
        {"BTC": D("-1")},
        {"BTC": D("-0.995")},
        {"BTC": D("10.01")},
        {"BTC": D("NaN")},
        {"BTC": D("0.1"), "btc": D("0.2")},
        {"BTC": D("0.1234567890123456789")},
    ],
)
def test_bad_shocks_are_refused_and_write_nothing(btc_loan, risk, now, shocks):
    with pytest.raises(InvalidInput) as exc:
        stress_run(actor=risk, shocks=shocks, now=now)
    assert "shocks" in exc.value.errors
    assert not StressRun.objects.exists()


def test_shock_bounds_are_inclusive(btc_loan, risk, now):
    assert stress_run(actor=risk, shocks={"BTC": D("-0.99")}, now=now).pk
    assert stress_run(actor=risk, shocks={"BTC": D("10")}, now=now).loans_liquidation == 1


def test_roles_without_stress_run_are_refused(btc_loan, now):
    for role in ("treasury", "compliance", "trading", "auditor"):
        with pytest.raises(Forbidden):
            stress_run(actor=UserFactory(role=role), shocks={"BTC": D("0.1")}, now=now)
    assert not StressRun.objects.exists()


def test_saved_scenario_runs_with_its_shocks(btc_loan, risk, now):
    scenario, created = stress_scenario_save(
        actor=risk,
        name="BTC squeeze",
        shocks={"btc": D("0.50")},
        description="short squeeze",
        now=now,
    )
    assert created and scenario.shocks == {"BTC": "0.5"}
    again, created = stress_scenario_save(
        actor=risk, name="btc squeeze", shocks={"BTC": D("0.6")}, now=now
    )
    assert not created and again.pk == scenario.pk and again.shocks == {"BTC": "0.6"}
    run = stress_run(actor=risk, shocks=None, scenario=again, now=now)
    assert run.scenario_id == scenario.pk and run.shocks == {"BTC": "0.6"}
    assert run.loans_call == 1


# ---------------------------------------------------------------- API


def test_api_post_runs_and_answers_the_figures(api, risk, btc_loan):
    r = api(risk).post("/api/stress-tests/", {"shocks": {"BTC": "0.5"}}, format="json")
    assert r.status_code == 201, r.json()
    body = r.json()
    assert body["loans_call"] == 1 and body["loans_liquidation"] == 0
    assert body["shortfall_usd"] == "203846.153846153846153846"
    assert body["top_up_usd"] == "0" and body["uncovered_usd"] == "0"
    assert body["shocks"] == {"BTC": "0.5"} and body["run_by"] == "c-risk"
    (loan,) = body["loans"]
    assert loan["loan"] == btc_loan.pk and loan["band"] == "call"
    assert loan["ltv"] == "0.789473684210526316"
    assert body["prices"]["BTC"]["shocked_price_usd"] == "75000"
    listed = api(risk).get("/api/stress-tests/").json()
    assert listed["count"] == 1 and "loans" not in listed["results"][0]
    detail = api(risk).get(f"/api/stress-tests/{body['id']}/").json()
    assert detail["loans"] == body["loans"]


@pytest.mark.parametrize(
    "body, field",
    [
        ({"shocks": {"DOGE": "-0.3"}}, "shocks"),
        ({"shocks": {}}, "shocks"),
        ({}, "shocks"),
        ({"shocks": {"BTC": -0.3}}, "shocks"),
        ({"shocks": {"BTC": "abc"}}, "shocks"),
        ({"shocks": {"BTC": "-2"}}, "shocks"),
        ({"shocks": ["BTC"]}, "shocks"),
        ({"scenario": "nope"}, "scenario"),
        ({"shocks": {"BTC": "0.1"}, "scenario": "x"}, "scenario"),
        ({"shocks": {"BTC": "0.1"}, "extra": 1}, "extra"),
    ],
)
def test_api_bad_input_is_400_and_writes_nothing(api, risk, btc_loan, body, field):
    r = api(risk).post("/api/stress-tests/", body, format="json")
    assert r.status_code == 400, r.json()
    assert field in r.json()
    assert not StressRun.objects.exists()


def test_api_scenarios_save_list_and_run(api, risk, btc_loan):
    c = api(risk)
    r = c.post(
        "/api/stress-scenarios/",
        {"name": "Crash", "shocks": {"BTC": "-0.3", "ETH": "-0.4"}},
        format="json",
    )
    assert r.status_code == 201, r.json()
    assert r.json()["shocks"] == {"BTC": "-0.3", "ETH": "-0.4"}
    r = c.post(
        "/api/stress-scenarios/",
        {"name": "Crash", "shocks": {"BTC": "0.5"}, "description": "up"},
        format="json",
    )
    assert r.status_code == 200 and r.json()["shocks"] == {"BTC": "0.5"}
    assert c.get("/api/stress-scenarios/").json()["count"] == 1
    bad = c.post("/api/stress-scenarios/", {"name": "X", "shocks": {"ZZZ": "0.1"}}, format="json")
    assert bad.status_code == 400 and StressScenario.objects.count() == 1
    r = c.post("/api/stress-tests/", {"scenario": "crash"}, format="json")
    assert r.status_code == 201, r.json()
    assert r.json()["scenario"] == "Crash" and r.json()["loans_call"] == 1
    assert c.get("/api/stress-tests/?scenario=Crash").json()["count"] == 1


ROLES = ["ops", "risk", "treasury", "compliance", "trading", "auditor", "admin"]
STAFF = set(ROLES) - {"trading"}
RUNNERS = {"ops", "risk", "admin"}


@pytest.mark.parametrize("role", ROLES)
def test_permission_matrix(api, make_user, role, btc_loan):
    c = api(make_user(role))
    run = StressRun.objects.create(
        shocks={"BTC": "0.1"}, run_by=make_user("risk", username="r0"), run_at=NOW
    )
    for url in ("/api/stress-tests/", f"/api/stress-tests/{run.pk}/", "/api/stress-scenarios/"):
        code = c.get(url).status_code
        assert code == (200 if role in STAFF else 403), (url, code)
    r = c.post("/api/stress-tests/", {"shocks": {"BTC": "0.1"}}, format="json")
    assert r.status_code == (201 if role in RUNNERS else 403)
    r = c.post(
        "/api/stress-scenarios/", {"name": f"s-{role}", "shocks": {"BTC": "0.1"}}, format="json"
    )
    assert r.status_code == (201 if role in RUNNERS else 403)
    assert StressRun.objects.count() == (2 if role in RUNNERS else 1)


def test_unauthenticated_is_401(api):
    assert api().get("/api/stress-tests/").status_code == 401
    assert (
        api().post("/api/stress-tests/", {"shocks": {"BTC": "0.1"}}, format="json").status_code
        == 401
    )


def test_idempotency_key_replays_the_first_run(api, risk, btc_loan):
    c = api(risk)
    headers = {"HTTP_IDEMPOTENCY_KEY": "stress-1"}
    first = c.post("/api/stress-tests/", {"shocks": {"BTC": "0.5"}}, format="json", **headers)
    again = c.post("/api/stress-tests/", {"shocks": {"BTC": "0.5"}}, format="json", **headers)
    assert first.status_code == again.status_code == 201
    assert first.json()["id"] == again.json()["id"]
    assert StressRun.objects.count() == 1


# ---------------------------------------------------------------- pages


@pytest.mark.parametrize("role", ROLES)
def test_stress_page_by_role(page, make_user, role, btc_loan):
    r = page(make_user(role)).get("/risk/stress/")
    assert r.status_code == (200 if role in STAFF else 403)
    if role in STAFF:
        html = r.content.decode()
        assert 'name="shock_BTC"' in html and 'name="shock_ETH"' in html
        assert ('data-testid="run-stress"' in html) == (role in RUNNERS)
    post = page(make_user(role)).post("/risk/stress/", {"shock_BTC": "0.5"})
    assert post.status_code == (302 if role in RUNNERS else 403)


def test_stress_page_runs_saves_and_shows_the_run(page, risk, btc_loan):
    c = page(risk)
    r = c.post(
        "/risk/stress/",
        {"shock_BTC": "0.5", "shock_ETH": "", "save_as": "BTC up", "description": "squeeze"},
    )
    run = StressRun.objects.get()
    assert r.status_code == 302 and r["Location"] == f"/risk/stress/{run.pk}/"
    assert run.scenario.name == "BTC up" and run.shocks == {"BTC": "0.5"}
    detail = c.get(f"/risk/stress/{run.pk}/")
    html = detail.content.decode()
    assert detail.status_code == 200
    assert f"L{btc_loan.pk}" in html and "203,846.15 USD" in html and "BTC +50%" in html
    assert "78.95%" in html and "52.63%" in html  # stressed and current LTV
    assert 'id="stress-chart"' in html
    csv = c.get(f"/risk/stress/{run.pk}/?export=csv")
    body = b"".join(csv.streaming_content).decode()
    assert "Stressed LTV" in body.splitlines()[0] and f"L{btc_loan.pk}" in body
    xlsx = c.get(f"/risk/stress/{run.pk}/?export=xlsx")
    assert xlsx.status_code == 200 and xlsx.content[:2] == b"PK"
    only_liq = c.get(f"/risk/stress/{run.pk}/?band=liquidation").content.decode()
    assert f">L{btc_loan.pk}<" not in only_liq
    listing = c.get("/risk/stress/").content.decode()
    assert f"/risk/stress/{run.pk}/" in listing and "BTC up" in listing
    loaded = c.get(f"/risk/stress/?scenario_id={run.scenario_id}").content.decode()
    assert 'value="0.5"' in loaded
    again = c.post("/risk/stress/", {"scenario": run.scenario_id})
    assert again.status_code == 302 and StressRun.objects.count() == 2
    runs_csv = b"".join(c.get("/risk/stress/?export=csv").streaming_content).decode()
    assert len(runs_csv.strip().splitlines()) == 3


def test_stress_page_bad_input_writes_nothing(page, risk, btc_loan):
    c = page(risk)
    r = c.post("/risk/stress/", {"shock_BTC": "-2"})
    assert r.status_code == 400 and "between -0.99" in r.content.decode()
    r = c.post("/risk/stress/", {"shock_BTC": "abc"})
    assert r.status_code == 400
    r = c.post("/risk/stress/", {"shock_BTC": ""})
    assert r.status_code == 400 and "at least one shock" in r.content.decode()
    assert not StressRun.objects.exists() and not StressScenario.objects.exists()
    assert c.get("/risk/stress/999/").status_code == 404
    assert c.post("/risk/stress/", {"scenario": "abc"}).status_code == 404
    assert c.post("/risk/stress/", {"scenario": "999"}).status_code == 404
