"""The demand forecast: the documented method on histories whose answer is known."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from loans.desk.forecast import demand_forecast
from loans.desk.models import BorrowRequest
from tests.conftest import NOW

D = Decimal
pytestmark = pytest.mark.django_db


def _history(trader, btc, quantity_for_day, days=70):
    rows = []
    for k in range(days, 0, -1):
        day = NOW - timedelta(days=k)
        qty = quantity_for_day(day)
        if qty:
            rows.append(
                BorrowRequest(
                    desk=trader.desk,
                    requested_by=trader,
                    asset=btc,
                    quantity=D(qty),
                    max_rate=D("0.08"),
                    needed_by=day + timedelta(days=1),
                    urgency="normal",
                    expected_revenue_usd=D("0"),
                    purpose="history",
                    priority=D("10"),
                    sla_due_at=day,
                    created_at=day,
                    updated_at=day,
                    status="expired",
                )
            )
    BorrowRequest.objects.bulk_create(rows)


def test_steady_demand_forecasts_itself_with_no_error(trader, btc):
    _history(trader, btc, lambda day: "10")
    (row,) = demand_forecast(now=NOW)
    assert row["asset"] == "BTC"
    assert [f["quantity"] for f in row["forecast"]] == [D("10")] * 7
    assert row["backtest_wape_pct"] == D("0.0") and row["backtest_days"] == 28


def test_weekly_shape_is_learnt(trader, btc):
    _history(trader, btc, lambda day: "14" if day.weekday() < 5 else None)
    (row,) = demand_forecast(now=NOW)
    by_weekday = {f["date"].weekday(): f["quantity"] for f in row["forecast"]}
    assert by_weekday[5] == 0 and by_weekday[6] == 0
    assert all(by_weekday[d] > D("12") for d in range(5))
    assert row["backtest_wape_pct"] < D("15")


def test_forecast_api(api, trader, btc):
    _history(trader, btc, lambda day: "3")
    from freezegun import freeze_time

    with freeze_time(NOW):
        body = api(trader).get("/api/inventory/forecast/").json()
    assert body["results"][0]["forecast"][0]["quantity"] == "3"
    assert "WAPE" in body["results"][0]["method"]


def test_no_history_no_forecast(db):
    assert demand_forecast(now=NOW) == []
