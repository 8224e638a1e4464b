"""Reads of the collateral app shaped for pages and endpoints (bounded queries)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from django.db import connection
from django.db.models import Q, QuerySet

from collateral.engine import stale_after
from collateral.models import (
    CollateralPosition,
    Liquidation,
    LoanMarginState,
    LoanValuation,
    MarginCall,
    MarginCallEvent,
    MarginCallNotice,
    RevaluationRun,
)
from financing.api.fields import amount_text as _s
from loans.models import CALLABLE_STATUSES, VALUED_STATUSES, Loan

_LATEST_SQL = """
SELECT a.symbol, a.decimals, a.is_stablecoin, p.id, p.price_usd, p.as_of, p.source,
       p.received_at
FROM refdata_asset a
LEFT JOIN LATERAL (
    SELECT s.id, s.price_usd, s.as_of, s.source, s.received_at FROM collateral_pricesnapshot s
    WHERE s.asset_id = a.id AND s.as_of <= %s ORDER BY s.as_of DESC, s.id DESC LIMIT 1
) p ON true
WHERE a.is_active
ORDER BY a.symbol
"""


def prices_latest(*, now: datetime, include_unpriced: bool = False) -> list[dict]:
    """The newest price of each active asset at `now`, its age in seconds and whether it is
    stale (older than the staleness limit). One query."""
    limit = stale_after()
    with connection.cursor() as cur:
        cur.execute(_LATEST_SQL, [now])
        rows = cur.fetchall()
    out = []
    for symbol, _dec, stable, pid, price, as_of, source, received in rows:
        if pid is None and not include_unpriced:
            continue
        age = (now - as_of).total_seconds() if as_of else None
        out.append(
            {
                "asset": symbol,
                "is_stablecoin": stable,
                "id": pid,
                "price_usd": _s(price),
                "as_of": as_of,
                "source": source,
                "received_at": received,
                "age_seconds": None if age is None else int(age),
                "stale": as_of is None or now - as_of > limit,
            }
        )
    return out


def positions_for_loan(loan: Loan) -> list[CollateralPosition]:
    """The loan's own positions and its counterparty's pooled positions in its direction."""
    direction = "received" if loan.direction == "lend" else "posted"
    return list(
        CollateralPosition.objects.filter(
            Q(loan=loan)
            | Q(loan__isnull=True, counterparty_id=loan.counterparty_id, direction=direction)
        )
        .select_related("counterparty", "asset", "venue")
        .order_by("loan", "asset__symbol", "venue__code")
    )


def loan_valuation_latest(loan: Loan) -> LoanValuation | None:
    return LoanValuation.objects.filter(loan=loan).order_by("-valued_at", "-id").first()


def valuation_prices(v: LoanValuation) -> list[dict]:
    """The prices a valuation used: the loan asset's and each collateral asset's."""
    loan_asset = v.loan.asset.symbol
    used = RevaluationRun.objects.filter(pk=v.run_id).values_list("prices", flat=True).first()
    meta = (used or {}).get(loan_asset, {})
    out = [
        {
            "asset": loan_asset,
            "price_usd": _s(v.loan_price_usd),
            "as_of": meta.get("as_of"),
            "source": meta.get("source"),
            "snapshot": meta.get("snapshot"),
            "role": "loan",
        }
    ]
    seen = set()
    for line in v.lines:
        if line["asset"] in seen:
            continue
        seen.add(line["asset"])
        meta = (used or {}).get(line["asset"], {})
        out.append(
            {
                "asset": line["asset"],
                "price_usd": line["price_usd"],
                "as_of": line["as_of"],
                "source": meta.get("source"),
                "snapshot": meta.get("snapshot"),
                "role": "collateral",
            }
        )
    return out


def margin_call_detail(call: MarginCall) -> dict:
    events = MarginCallEvent.objects.filter(call=call).select_related("actor").order_by("at", "id")
    notices = MarginCallNotice.objects.filter(call=call).order_by("sent_at", "id")
    liquidations = Liquidation.objects.filter(call=call).order_by("at", "id")
    return {
        "events": [
            {
                "kind": e.kind,
                "from_status": e.from_status,
                "to_status": e.to_status,
                "at": e.at,
                "actor": e.actor.username if e.actor else None,
                "ltv": _s(e.ltv),
                "note": e.note,
                "data": e.data,
            }
            for e in events
        ],
        "notices": [
            {
                "kind": n.kind,
                "sent_at": n.sent_at,
                "recipient": n.recipient,
                "subject": n.subject,
                "body": n.body,
            }
            for n in notices
        ],
        "liquidations": [liquidation_body(liq) for liq in liquidations],
    }


def liquidation_body(liq: Liquidation) -> dict:
    s = _s
    return {
        "id": liq.pk,
        "at": liq.at,
        "position": liq.position_id,
        "quantity_sold": s(liq.quantity_sold),
        "sale_price_usd": s(liq.sale_price_usd),
        "proceeds_usd": s(liq.proceeds_usd),
        "loan_price_usd": s(liq.loan_price_usd),
        "proceeds_loan_asset": s(liq.proceeds_loan_asset),
        "applied_principal": s(liq.applied_principal),
        "applied_interest": s(liq.applied_interest),
        "surplus_loan_asset": s(liq.surplus_loan_asset),
        "surplus_usd": s(liq.surplus_usd),
        "ltv_before": s(liq.ltv_before),
        "ltv_after": s(liq.ltv_after),
    }


# ---------------------------------------------------------------- risk dashboard

LTV_BUCKETS = [Decimal(x) / 100 for x in range(0, 105, 5)]


def ltv_distribution() -> dict:
    """Loans by LTV bucket of 5 points (0-5%, ..., 95-100%, 100%+), plus no collateral and
    unpriced, from the latest state. One query."""
    with connection.cursor() as cur:
        cur.execute(
            """
            SELECT CASE WHEN band = 'unknown' THEN -2 WHEN ltv IS NULL THEN -1
                        ELSE LEAST(floor(ltv * 20)::int, 20) END AS bucket,
                   count(*), count(*) FILTER (WHERE stale)
            FROM collateral_loanmarginstate s
            JOIN loans_loan l ON l.id = s.loan_id AND l.status IN ('active', 'recalled', 'defaulted')
            GROUP BY 1 ORDER BY 1
            """
        )
        rows = cur.fetchall()
    counts = {b: (n, st) for b, n, st in rows}
    labels = [f"{i * 5}-{i * 5 + 5}%" for i in range(20)] + ["100%+"]
    return {
        "labels": labels,
        "counts": [counts.get(i, (0, 0))[0] for i in range(21)],
        "stale": [counts.get(i, (0, 0))[1] for i in range(21)],
        "no_collateral": counts.get(-1, (0, 0))[0],
        "unpriced": counts.get(-2, (0, 0))[0],
    }


def band_counts() -> dict[str, int]:
    rows = (
        LoanMarginState.objects.filter(loan__status__in=VALUED_STATUSES)
        .values_list("band")
        .order_by()
    )
    from django.db.models import Count

    return dict(rows.annotate(n=Count("loan")).values_list("band", "n"))


def nearest_thresholds(limit: int = 15) -> QuerySet[LoanMarginState]:
    """Loans closest to their call level (not yet called), by LTV points of headroom."""
    return (
        LoanMarginState.objects.filter(
            loan__status__in=CALLABLE_STATUSES,
            band__in=("ok", "warning"),
            headroom__isnull=False,
        )
        .select_related("loan__counterparty", "loan__asset", "valuation")
        .order_by("headroom", "loan_id")[:limit]
    )


def open_calls() -> QuerySet[MarginCall]:
    return (
        MarginCall.objects.filter(closed_at__isnull=True)
        .select_related("loan__counterparty", "loan__asset")
        .order_by("deadline", "id")
    )
