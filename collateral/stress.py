"""Stress tests (domain.md, Collateral and margin): price shocks per asset applied to the whole
book, and which loans would then reach their margin-call and liquidation levels, with the
collateral shortfall in USD.

The stress test is the revaluation engine run with shocked prices (collateral/engine.py
`build_valuations`), so a stressed LTV is computed exactly as a real one: same exposure, same
haircut and margin-term resolution, same pooled-collateral shares. It is set-based: a handful of
statements whatever the size of the book, aggregated in SQL, nothing written but the StressRun.

A shock is a fractional move of an asset's price ("-0.30" = 30% down) applied everywhere the
asset appears: as a loan asset (exposure) and as collateral (value).

Figures of a run:
- lend side (the firm calls its counterparties): loans reaching call / liquidation, the
  shortfall (`shortfall_usd`: sum over those loans of the collateral value needed to bring them
  back to their initial LTV) and the uncovered exposure (sum over every lend loan of
  max(exposure - collateral value, 0): what is lost if they all default under the shock);
- borrow side (counterparties call the firm): loans reaching call / liquidation and the
  collateral the firm would have to post (`top_up_usd`).
"""

from __future__ import annotations

import time
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.db.models.functions import Upper

from collateral.engine import DROP_TEMP_SQL, Scope, _params, build_valuations
from collateral.models import StressRun, StressScenario
from financing.accounts.roles import can
from financing.api.fields import amount_text as _s
from financing.errors import Conflict, Forbidden, InvalidInput
from financing.history import save_stamped
from financing.refdata.models import Asset

MIN_SHOCK = Decimal("-0.99")
MAX_SHOCK = Decimal("10")
#: Loans kept on a run, worst first (the counts and sums cover every loan).
RESULTS_CAP = 200
NAME_MAX = 100
DESCRIPTION_MAX = 2000


def _require(actor, capability: str, what: str) -> None:
    if not can(actor, capability):
        raise Forbidden(f"Your role may not {what}.")


# ---------------------------------------------------------------- shocks


def shocks_validate(shocks: Any, *, field: str = "shocks") -> dict[Asset, Decimal]:
    """{symbol: Decimal} -> {Asset: Decimal}, every error at once (InvalidInput on `field`):
    at least one shock, known symbols (case-insensitive, each once), finite fractions between
    -0.99 and +10 with at most 18 decimal places. One query."""
    if not isinstance(shocks, dict) or not shocks:
        raise InvalidInput(
            'Give at least one shock: {"BTC": "-0.30"} moves BTC 30% down.', field=field
        )
    errors: list[str] = []
    wanted: dict[str, tuple[str, Any]] = {}
    for raw_symbol, value in shocks.items():
        symbol = str(raw_symbol).strip().upper()
        if not symbol:
            errors.append("An empty asset symbol.")
            continue
        if symbol in wanted:
            errors.append(f"{symbol} is shocked twice.")
            continue
        wanted[symbol] = (str(raw_symbol), value)
    # Symbols match case-insensitively ("btc" is BTC), in one query.
    assets = (
        {
            a.symbol.upper(): a
            for a in Asset.objects.annotate(u=Upper("symbol")).filter(u__in=list(wanted)).order_by()
        }
        if wanted
        else {}
    )
    out: dict[Asset, Decimal] = {}
    for symbol, (raw, value) in wanted.items():
        asset = assets.get(symbol)
        if asset is None:
            errors.append(f"Unknown asset {raw!r}.")
            continue
        if not isinstance(value, Decimal) or not value.is_finite():
            errors.append(f'{asset.symbol}: a decimal fraction as a string ("-0.30" = 30% down).')
            continue
        if not MIN_SHOCK <= value <= MAX_SHOCK:
            errors.append(f"{asset.symbol}: a shock between {MIN_SHOCK} and +{MAX_SHOCK}.")
            continue
        if value != value.quantize(Decimal("1e-18")):
            errors.append(f"{asset.symbol}: at most 18 decimal places.")
            continue
        out[asset] = value
    if errors:
        raise InvalidInput(errors[0], errors={field: errors})
    return out


def shocks_parse(raw: Any, *, field: str = "shocks") -> dict[str, Decimal]:
    """Shocks as they arrive over the wire or from a stored scenario ({symbol: "-0.30"}): the
    values must be decimal strings (never JSON numbers); shocks_validate checks the rest."""
    if not isinstance(raw, dict) or not raw:
        raise InvalidInput(
            'Give at least one shock: {"BTC": "-0.30"} moves BTC 30% down.', field=field
        )
    out: dict[str, Decimal] = {}
    errors: list[str] = []
    for symbol, value in raw.items():
        if isinstance(value, bool) or not isinstance(value, str):
            errors.append(f'{symbol}: send the shock as a decimal string, e.g. "-0.30".')
            continue
        try:
            out[symbol] = Decimal(value.strip())
        except ArithmeticError:
            errors.append(f'{symbol}: not a decimal ("-0.30" = 30% down).')
    if errors:
        raise InvalidInput(errors[0], errors={field: errors})
    return out


def _shock_text(value: Decimal) -> str:
    return _s(value) or "0"


# ---------------------------------------------------------------- SQL over the engine's tables

_TOTALS_SQL = """
SELECT count(*),
       count(*) FILTER (WHERE v.band = 'unknown'),
       count(*) FILTER (WHERE v.stale),
       count(*) FILTER (WHERE v.direction = 'lend' AND v.band = 'call'),
       count(*) FILTER (WHERE v.direction = 'lend' AND v.band = 'liquidation'),
       count(*) FILTER (WHERE v.direction = 'borrow' AND v.band = 'call'),
       count(*) FILTER (WHERE v.direction = 'borrow' AND v.band = 'liquidation'),
       COALESCE(sum(v.top_up_usd) FILTER (
           WHERE v.direction = 'lend' AND v.band IN ('call', 'liquidation')), 0),
       COALESCE(sum(v.top_up_usd) FILTER (
           WHERE v.direction = 'borrow' AND v.band IN ('call', 'liquidation')), 0),
       COALESCE(sum(GREATEST(v.exposure_usd - v.collateral_value, 0)) FILTER (
           WHERE v.direction = 'lend' AND v.exposure_usd IS NOT NULL), 0),
       COALESCE(sum(v.exposure_usd) FILTER (WHERE v.direction = 'lend'), 0),
       COALESCE(sum(v.collateral_value) FILTER (
           WHERE v.direction = 'lend' AND v.exposure_usd IS NOT NULL), 0),
       count(*) FILTER (WHERE v.band IN ('call', 'liquidation')
                        AND COALESCE(s.band, 'ok') NOT IN (v.band, 'liquidation')),
       count(*) FILTER (WHERE v.band = 'liquidation'
                        AND COALESCE(s.band, 'ok') <> 'liquidation')
FROM rv_val v
LEFT JOIN collateral_loanmarginstate s ON s.loan_id = v.loan_id
"""

# Worst first: liquidation before call, then the highest LTV (no collateral is the highest),
# then the largest top-up.
_CROSSING_SQL = """
SELECT v.loan_id, cp.code, a.symbol, v.direction, v.status, v.exposure_qty, v.exposure_usd,
       v.collateral_value, s.ltv, s.band, v.ltv, v.band, v.initial_ltv, v.call_ltv,
       v.liquidation_ltv, v.top_up_usd, GREATEST(v.exposure_usd - v.collateral_value, 0),
       v.stale
FROM rv_val v
JOIN refdata_counterparty cp ON cp.id = v.counterparty_id
JOIN refdata_asset a ON a.id = v.asset_id
LEFT JOIN collateral_loanmarginstate s ON s.loan_id = v.loan_id
WHERE v.band IN ('call', 'liquidation')
ORDER BY (v.band = 'liquidation') DESC, v.ltv DESC NULLS FIRST, v.top_up_usd DESC, v.loan_id
LIMIT %(limit)s
"""

_PRICES_SQL = """
SELECT symbol, market_price, price_usd, as_of, source, stale FROM rv_px
WHERE asset_id = ANY(%(shocked)s)
   OR asset_id IN (SELECT asset_id FROM rv_loan UNION SELECT asset_id FROM rv_pos)
ORDER BY symbol
"""

_CROSSING_COLUMNS = (
    "loan",
    "counterparty",
    "asset",
    "direction",
    "status",
    "exposure_qty",
    "exposure_usd",
    "collateral_value_usd",
    "current_ltv",
    "current_band",
    "ltv",
    "band",
    "initial_ltv",
    "call_ltv",
    "liquidation_ltv",
    "top_up_usd",
    "uncovered_usd",
    "stale",
)
_TEXT_COLUMNS = {
    "loan",
    "counterparty",
    "asset",
    "direction",
    "status",
    "current_band",
    "band",
    "stale",
}


def _crossing_row(row: tuple) -> dict[str, Any]:
    out = {
        name: (value if name in _TEXT_COLUMNS else _s(value))
        for name, value in zip(_CROSSING_COLUMNS, row, strict=True)
    }
    out["reference"] = f"L{out['loan']}"
    # A loan already at that level before the shock is not "crossing": the page says which.
    out["newly"] = out["current_band"] not in ("call", "liquidation") or (
        out["band"] == "liquidation" and out["current_band"] != "liquidation"
    )
    return out


# ---------------------------------------------------------------- services


def stress_run(
    *,
    actor,
    shocks: dict[str, Decimal] | None,
    now: datetime,
    scenario: StressScenario | None = None,
) -> StressRun:
    """Shock prices over the whole book and store what would cross call and liquidation.

    With a `scenario` and no `shocks`, the scenario's shocks apply. Bad input raises before
    anything is written."""
    _require(actor, "stress.run", "run stress tests")
    if shocks is None:
        if scenario is None:
            raise InvalidInput("Give shocks or a saved scenario.", field="shocks")
        shocks = shocks_parse(scenario.shocks)
    parsed = shocks_validate(shocks)
    by_id = {a.pk: v for a, v in parsed.items()}
    started = time.perf_counter()
    steps: dict[str, float] = {}
    with transaction.atomic():
        scope = Scope()
        params = _params(now, scope)
        with connection.cursor() as cur:
            build_valuations(cur, now=now, scope=scope, shocks=by_id, params=params, steps=steps)
            t = time.perf_counter()
            cur.execute(_TOTALS_SQL)
            (
                valued,
                unpriced,
                stale,
                lend_call,
                lend_liq,
                borrow_call,
                borrow_liq,
                shortfall,
                firm_top_up,
                uncovered,
                lend_exposure,
                lend_collateral,
                newly,
                newly_liq,
            ) = cur.fetchone()
            cur.execute(_CROSSING_SQL, {"limit": RESULTS_CAP})
            crossing = [_crossing_row(r) for r in cur.fetchall()]
            cur.execute(_PRICES_SQL, {"shocked": list(by_id)})
            price_rows = cur.fetchall()
            cur.execute(DROP_TEMP_SQL)
            steps["report"] = round(time.perf_counter() - t, 4)
        shock_by_symbol = {a.symbol: v for a, v in parsed.items()}
        prices: dict[str, dict[str, Any]] = {}
        for symbol, market, shocked, as_of, source, is_stale in price_rows:
            prices[symbol] = {
                "market_price_usd": _s(market),
                "shocked_price_usd": _s(shocked),
                "shock": _shock_text(shock_by_symbol.get(symbol, Decimal(0))),
                "as_of": as_of.isoformat(),
                "source": source,
                "stale": is_stale,
            }
        for symbol, value in shock_by_symbol.items():
            prices.setdefault(
                symbol,
                {
                    "market_price_usd": None,
                    "shocked_price_usd": None,
                    "shock": _shock_text(value),
                    "as_of": None,
                    "source": None,
                    "stale": True,
                },
            )
        totals = {
            "lend_call": lend_call,
            "lend_liquidation": lend_liq,
            "borrow_call": borrow_call,
            "borrow_liquidation": borrow_liq,
            "newly_call_or_liquidation": newly,
            "newly_liquidation": newly_liq,
            "uncovered_usd": _s(uncovered),
            "lend_exposure_usd": _s(lend_exposure),
            "lend_collateral_value_usd": _s(lend_collateral),
            "loans_unpriced": unpriced,
            "loans_stale": stale,
            "loans_crossing": lend_call + lend_liq + borrow_call + borrow_liq,
            "loans_listed": len(crossing),
            "steps": steps,
        }
        run = StressRun.objects.create(
            scenario=scenario,
            shocks={
                a.symbol: _shock_text(v)
                for a, v in sorted(parsed.items(), key=lambda kv: kv[0].symbol)
            },
            prices={"assets": prices, "totals": totals},
            run_by=actor,
            run_at=now,
            loans_valued=valued,
            loans_call=lend_call + borrow_call,
            loans_liquidation=lend_liq + borrow_liq,
            shortfall_usd=shortfall,
            top_up_usd=firm_top_up,
            results=crossing,
            seconds=Decimal(str(round(time.perf_counter() - started, 3))),
        )
    return run


def run_totals(run: StressRun) -> dict[str, Any]:
    """The side-by-side figures of a run (lend and borrow, uncovered exposure, unpriced loans).
    Kept in `prices["totals"]` until StressRun has columns of its own for them."""
    prices = run.prices or {}
    return dict(prices.get("totals") or {})


def run_prices(run: StressRun) -> dict[str, dict[str, Any]]:
    """{symbol: {market_price_usd, shocked_price_usd, shock, as_of, source, stale}}."""
    prices = run.prices or {}
    return dict(prices.get("assets") or {})


def stress_scenario_save(
    *, actor, name: str, shocks: dict[str, Decimal], description: str = "", now: datetime
) -> tuple[StressScenario, bool]:
    """Save a named set of shocks (creating it, or replacing the shocks and description of the
    scenario with that name, case-insensitively). Returns (scenario, created)."""
    _require(actor, "stress.run", "save stress scenarios")
    name = " ".join(str(name or "").split())
    if not name:
        raise InvalidInput("A scenario needs a name.", field="name")
    if len(name) > NAME_MAX:
        raise InvalidInput(f"At most {NAME_MAX} characters.", field="name")
    description = str(description or "").strip()
    if len(description) > DESCRIPTION_MAX:
        raise InvalidInput(f"At most {DESCRIPTION_MAX} characters.", field="description")
    parsed = shocks_validate(shocks)
    stored = {
        a.symbol: _shock_text(v) for a, v in sorted(parsed.items(), key=lambda kv: kv[0].symbol)
    }
    with transaction.atomic():
        scenario = (
            StressScenario.objects.select_for_update().filter(name__iexact=name).order_by().first()
        )
        created = scenario is None
        if created:
            scenario = StressScenario(name=name, created_by=actor, created_at=now)
        scenario.shocks = stored
        scenario.description = description
        try:
            with transaction.atomic():
                save_stamped(
                    scenario,
                    actor=actor,
                    reason="stress scenario saved" if created else "stress scenario replaced",
                )
        except IntegrityError:
            # Another user created the same name a moment ago (the unique index decides).
            raise Conflict(f"A scenario named {name!r} was just saved by someone else.") from None
    return scenario, created
