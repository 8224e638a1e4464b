"""Demand forecast per asset from borrow-request history (pandas), so treasury can pre-position
inventory (domain.md, Borrow desk).

Method (also on the inventory page and in the README):
  * daily demand = the quantity of borrow requests submitted per UTC day (cancelled and
    rejected requests count: they were demand), zero on days without requests;
  * level = exponentially weighted mean of the last `history_days` days (span 14 days);
  * weekly shape = each weekday's mean over the history divided by the overall mean (1 when
    there are fewer than 4 weeks of history); the history starts at the asset's first request;
  * forecast for day D = level x shape(weekday of D), for the next `horizon` days.
Backtest: the same method refitted at each of the last 28 days on the history before it,
forecasting that day; the error is WAPE = sum |actual - forecast| / sum actual (in %), the
usual error measure for intermittent demand (MAPE is undefined on zero days).

The statistics run in float64: a forecast is an estimate that never becomes a booked amount;
figures are rounded to the asset's decimals (half-even) when they leave this module.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal

import pandas as pd
from django.db import connection

from financing.refdata.models import Asset

SPAN_DAYS = 14
BACKTEST_DAYS = 28
METHOD = (
    "Exponentially weighted mean of daily requested quantity (span 14 days) times a "
    "day-of-week factor (weekday mean / overall mean, from 4+ weeks of history); backtested "
    "one day ahead over the last 28 days (WAPE)."
)

_HISTORY_SQL = """
SELECT asset_id, (created_at AT TIME ZONE 'UTC')::date AS day, sum(quantity) AS qty
FROM loans_borrowrequest
WHERE created_at >= %s AND created_at < %s
GROUP BY asset_id, day
"""


def _history(start: date, end: date) -> pd.DataFrame:
    with connection.cursor() as cur:
        cur.execute(_HISTORY_SQL, [start, end])
        rows = cur.fetchall()
    return pd.DataFrame(rows, columns=["asset_id", "day", "qty"])


def _fit(series: pd.Series) -> tuple[float, dict[int, float]]:
    """(level, weekday factors) from a daily series indexed by date."""
    values = series.astype("float64")
    level = float(values.ewm(span=SPAN_DAYS, adjust=True).mean().iloc[-1]) if len(values) else 0.0
    factors = dict.fromkeys(range(7), 1.0)
    mean = float(values.mean()) if len(values) else 0.0
    if len(values) >= 28 and mean > 0:
        by_day = values.groupby(pd.to_datetime(values.index).day_of_week).mean()
        for weekday, m in by_day.items():
            factors[int(weekday)] = float(m) / mean
    return level, factors


def _predict(level: float, factors: dict[int, float], day: date) -> float:
    return max(level * factors[day.weekday()], 0.0)


def demand_forecast(*, now: datetime, horizon: int = 7, history_days: int = 90) -> list[dict]:
    """Per asset with any request history: the next `horizon` days' forecast demand, the
    backtest error and the history used. A handful of queries whatever the history."""
    today = now.date()
    start = today - timedelta(days=history_days)
    frame = _history(start, today)
    if frame.empty:
        return []
    assets = {a.pk: a for a in Asset.objects.filter(pk__in=frame["asset_id"].unique())}
    days = pd.date_range(start, today - timedelta(days=1), freq="D").date
    out = []
    for asset_id, rows in frame.groupby("asset_id"):
        asset = assets[int(asset_id)]
        series = rows.set_index("day")["qty"].astype("float64").reindex(days, fill_value=0.0)
        # The asset's history starts with its first request, not with the window.
        series = series[series.index >= rows["day"].min()]
        level, factors = _fit(series)
        step = Decimal(1).scaleb(-asset.decimals)

        def q(x: float, step=step) -> Decimal:
            return Decimal(repr(x)).quantize(step, rounding=ROUND_HALF_EVEN)

        forecast = [
            {
                "date": today + timedelta(days=k),
                "quantity": q(_predict(level, factors, today + timedelta(days=k))),
            }
            for k in range(horizon)
        ]
        # Backtest: refit on the history before each of the last BACKTEST_DAYS days.
        abs_err = actual_sum = 0.0
        tested = 0
        for k in range(min(BACKTEST_DAYS, len(series) - 7), 0, -1):
            cut = len(series) - k
            fit_level, fit_factors = _fit(series.iloc[:cut])
            actual = float(series.iloc[cut])
            abs_err += abs(actual - _predict(fit_level, fit_factors, series.index[cut]))
            actual_sum += actual
            tested += 1
        wape = (
            Decimal(repr(100 * abs_err / actual_sum)).quantize(Decimal("0.1"), ROUND_HALF_EVEN)
            if actual_sum > 0
            else None
        )
        out.append(
            {
                "asset": asset.symbol,
                "method": METHOD,
                "history_days": history_days,
                "requests_total": q(float(series.sum())),
                "forecast": forecast,
                "forecast_total": sum((f["quantity"] for f in forecast), Decimal(0)),
                "backtest_days": tested,
                "backtest_wape_pct": wape,
            }
        )
    return sorted(out, key=lambda r: r["asset"])
