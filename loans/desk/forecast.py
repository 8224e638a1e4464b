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

Quantities stay Decimal throughout (pandas arranges the days; the arithmetic is Decimal), and
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


def _ewma(values: list[Decimal], span: int = SPAN_DAYS) -> Decimal:
    """pandas' ewm(span=...).mean() with adjust=True, in Decimal: weights (1 - a)^k, newest 1."""
    alpha = Decimal(2) / (span + 1)
    weight, num, den = Decimal(1), Decimal(0), Decimal(0)
    for value in reversed(values):
        num += weight * value
        den += weight
        weight *= 1 - alpha
    return num / den if den else Decimal(0)


def _fit(series: pd.Series) -> tuple[Decimal, dict[int, Decimal]]:
    """(level, weekday factors) from a daily series of Decimals indexed by date."""
    values = list(series)
    level = _ewma(values) if values else Decimal(0)
    factors = dict.fromkeys(range(7), Decimal(1))
    mean = sum(values, Decimal(0)) / len(values) if values else Decimal(0)
    if len(values) >= 28 and mean > 0:
        by_day: dict[int, list[Decimal]] = {}
        for day, value in series.items():
            by_day.setdefault(day.weekday(), []).append(value)
        for weekday, day_values in by_day.items():
            factors[weekday] = sum(day_values, Decimal(0)) / len(day_values) / mean
    return level, factors


def _predict(level: Decimal, factors: dict[int, Decimal], day: date) -> Decimal:
    return max(level * factors[day.weekday()], Decimal(0))


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
        series = rows.set_index("day")["qty"].reindex(days, fill_value=Decimal(0))
        # The asset's history starts with its first request, not with the window.
        series = series[series.index >= rows["day"].min()]
        level, factors = _fit(series)
        step = Decimal(1).scaleb(-asset.decimals)

        def q(x: Decimal, step=step) -> Decimal:
            return x.quantize(step, rounding=ROUND_HALF_EVEN)

        forecast = [
            {
                "date": today + timedelta(days=k),
                "quantity": q(_predict(level, factors, today + timedelta(days=k))),
            }
            for k in range(horizon)
        ]
        # Backtest: refit on the history before each of the last BACKTEST_DAYS days.
        abs_err = actual_sum = Decimal(0)
        tested = 0
        for k in range(min(BACKTEST_DAYS, len(series) - 7), 0, -1):
            cut = len(series) - k
            fit_level, fit_factors = _fit(series.iloc[:cut])
            actual = series.iloc[cut]
            abs_err += abs(actual - _predict(fit_level, fit_factors, series.index[cut]))
            actual_sum += actual
            tested += 1
        wape = (
            (100 * abs_err / actual_sum).quantize(Decimal("0.1"), ROUND_HALF_EVEN)
            if actual_sum > 0
            else None
        )
        out.append(
            {
                "asset": asset.symbol,
                "method": METHOD,
                "history_days": history_days,
                "requests_total": q(sum(series, Decimal(0))),
                "forecast": forecast,
                "forecast_total": sum((f["quantity"] for f in forecast), Decimal(0)),
                "backtest_days": tested,
                "backtest_wape_pct": wape,
            }
        )
    return sorted(out, key=lambda r: r["asset"])
