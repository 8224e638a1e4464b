"""Concentration limits (domain.md, Collateral and margin): caps on the USD exposure of the lend
book by counterparty, by loan asset and by tenor bucket.

- `limit_set` creates or changes a limit (risk.configure).
- `limits_exposure` aggregates the book's current exposure by each kind in one statement
  (GROUPING SETS over the live lend loans, each at the newest price of its asset).
- `limits_usage` puts each limit beside its exposure: utilisation and status ok / soft / hard.
- `limits_check` (the hourly `check_limits` job) raises a `limit_breach` alert per limit over
  its soft limit (warning) or hard limit (critical) and resolves it once back under soft.
- `limits_booking_check` is registered with loans.hooks: a new lend loan that would
  take a limit past its hard limit needs one extra approval.

Exposure of a loan = (outstanding principal + accrued unsettled interest) x the newest price of
the loan asset, as the revaluation engine computes it; loans of an asset without a price are
counted (`unpriced_loans`) but add nothing in USD. Tenor = days from today (UTC) to maturity:
open-term loans are "open", a fixed loan past its maturity is in the shortest bucket.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from celery.schedules import crontab
from django.db import connection, transaction
from django.db.models import Q
from django.urls import NoReverseMatch, reverse

from collateral.alerts import limit_breach_severity
from collateral.models import TENOR_BUCKETS, ConcentrationLimit, LimitKind
from financing.accounts.roles import can
from financing.alerts.models import LIVE_STATUSES, Alert
from financing.alerts.services import AlertSpec, alerts_raise_many, alerts_resolve
from financing.errors import Forbidden, InvalidInput
from financing.history import save_stamped
from financing.jobs.registry import Job, register
from financing.jobs.services import xact_advisory_lock
from financing.money import MAX_AMOUNT
from financing.refdata.models import Asset, Counterparty
from loans.accrual import half_even_sql
from loans.hooks import BookingFlag, register_booking_check
from loans.models import VALUED_STATUSES

MAX_LIMIT = MAX_AMOUNT
ALERT_KIND = "limit_breach"
BOOKING_LOCK = "collateral.limits.booking"
TENOR_KEYS = tuple(b[0] for b in TENOR_BUCKETS)
TENOR_LABELS = {b[0]: b[1] for b in TENOR_BUCKETS}
#: Live loans whose exposure counts (as the revaluation engine values them).
EXPOSURE_STATUSES = VALUED_STATUSES

Status = str  # "ok" | "soft" | "hard"


def _require(actor, capability: str, what: str) -> None:
    if not can(actor, capability):
        raise Forbidden(f"Your role may not {what}.")


def usd(value: Decimal | None) -> str:
    """USD for messages: thousands separated, cents."""
    if value is None:
        return "n/a"
    return f"{value.quantize(Decimal('0.01'), rounding=ROUND_HALF_EVEN):,} USD"


def limit_label(kind: str, key: str) -> str:
    if kind == LimitKind.TENOR:
        return f"tenor {key} ({TENOR_LABELS.get(key, key).lower()})"
    return f"{LimitKind(kind).label.lower()} {key}"


def tenor_bucket(term: str, maturity_date: date | None, today: date) -> str:
    """The bucket of a loan by remaining days to maturity (the Python twin of _tenor_sql)."""
    if term == "open" or maturity_date is None:
        return "open"
    days = max((maturity_date - today).days, 0)
    for key, _label, low, high in TENOR_BUCKETS:
        if low is None:
            continue
        if days >= low and (high is None or days <= high):
            return key
    raise AssertionError(f"no tenor bucket for {days} days")  # the buckets cover 0..inf


def _tenor_sql(today_param: str = "%(today)s") -> str:
    days = f"GREATEST(l.maturity_date - {today_param}::date, 0)"
    whens = []
    for key, _label, low, high in TENOR_BUCKETS:
        if low is None:
            continue
        cond = f"{days} >= {int(low)}" + (f" AND {days} <= {int(high)}" if high is not None else "")
        whens.append(f"WHEN {cond} THEN '{key}'")
    return (
        "CASE WHEN l.term = 'open' OR l.maturity_date IS NULL THEN 'open' "
        + " ".join(whens)
        + " END"
    )


# ---------------------------------------------------------------- limits


def _check_usd(value: Any, field: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, Decimal) or not value.is_finite():
        raise InvalidInput("A USD amount as a decimal string.", field=field)
    if value <= 0:
        raise InvalidInput("Must be above zero.", field=field)
    if value > MAX_LIMIT:
        raise InvalidInput("Implausibly large.", field=field)
    if value != value.quantize(Decimal("0.01")):
        raise InvalidInput("At most 2 decimal places (cents).", field=field)
    return value


def limit_key_resolve(kind: str, key: Any) -> str:
    """The canonical key of a limit: a counterparty's code, an asset's symbol (either matched
    case-insensitively) or a tenor bucket key. InvalidInput when it names nothing."""
    if kind not in LimitKind.values:
        raise InvalidInput(f"Choose one of {', '.join(LimitKind.values)}.", field="kind")
    text = str(key or "").strip()
    if not text:
        raise InvalidInput("Name what the limit applies to.", field="key")
    if kind == LimitKind.COUNTERPARTY:
        code = Counterparty.objects.filter(code__iexact=text).values_list("code", flat=True)
        found = code.first()
        if found is None:
            raise InvalidInput(f"Unknown counterparty {text!r}.", field="key")
        return found
    if kind == LimitKind.ASSET:
        found = Asset.objects.filter(symbol__iexact=text).values_list("symbol", flat=True).first()
        if found is None:
            raise InvalidInput(f"Unknown asset {text!r}.", field="key")
        return found
    if text.lower() not in TENOR_KEYS:
        raise InvalidInput(f"A tenor bucket: one of {', '.join(TENOR_KEYS)}.", field="key")
    return text.lower()


def limit_set(
    *,
    actor,
    kind: str,
    key: str,
    soft_limit_usd: Decimal,
    hard_limit_usd: Decimal,
    now: datetime,
    reason: str = "",
) -> ConcentrationLimit:
    """Create or change the limit of a counterparty, asset or tenor bucket (soft <= hard)."""
    _require(actor, "risk.configure", "set concentration limits")
    key = limit_key_resolve(kind, key)
    soft = _check_usd(soft_limit_usd, "soft_limit_usd")
    hard = _check_usd(hard_limit_usd, "hard_limit_usd")
    if hard < soft:
        raise InvalidInput("The hard limit cannot be below the soft limit.", field="hard_limit_usd")
    # Two first settings of one key would both insert: a lock per key serialises them.
    with transaction.atomic(), xact_advisory_lock(f"collateral.limit:{kind}:{key}"):
        row = (
            ConcentrationLimit.objects.select_for_update()
            .filter(kind=kind, key=key)
            .order_by()
            .first()
        )
        created = row is None
        if created:
            row = ConcentrationLimit(kind=kind, key=key)
        row.soft_limit_usd = soft
        row.hard_limit_usd = hard
        row.updated_by = actor
        row.updated_at = now
        save_stamped(
            row,
            actor=actor,
            reason=reason or ("limit set" if created else "limit changed"),
        )
    return row


# ---------------------------------------------------------------- exposure


def _exposure_sql(where: str = "") -> str:
    exposure_qty = (
        "(l.outstanding_principal + b.rolled_up_total + COALESCE(r.s, 0) "
        "- b.interest_settled - b.interest_capitalised)"
    )
    # A loan waiting for approval counts at its principal (booking check only): two bookings
    # that each fit cannot pass a hard limit together unnoticed.
    qty = (
        f"CASE WHEN l.status = 'pending_approval' THEN l.principal "
        f"ELSE GREATEST({exposure_qty}, 0) END"
    )
    return f"""
WITH px AS (
    SELECT a.id AS asset_id, p.price_usd
    FROM refdata_asset a
    CROSS JOIN LATERAL (
        SELECT s.price_usd FROM collateral_pricesnapshot s
        WHERE s.asset_id = a.id AND s.as_of <= %(now)s
        ORDER BY s.as_of DESC, s.id DESC LIMIT 1
    ) p
), book AS (
    SELECT cp.code AS counterparty, a.symbol AS asset, {_tenor_sql()} AS tenor,
           (l.status = 'pending_approval') AS pending,
           CASE WHEN px.price_usd IS NULL THEN NULL
                ELSE {half_even_sql(f"{qty} * px.price_usd", "1")} END AS exposure_usd
    FROM loans_loan l
    JOIN loans_loanbalance b ON b.loan_id = l.id
    LEFT JOIN LATERAL (
        SELECT sum(ac.amount) AS s FROM loans_accrual ac
        WHERE ac.loan_id = l.id AND ac.kind = 'accrual' AND ac.date > b.rolled_up_through
    ) r ON l.status <> 'pending_approval'
    JOIN refdata_counterparty cp ON cp.id = l.counterparty_id
    JOIN refdata_asset a ON a.id = l.asset_id
    LEFT JOIN px ON px.asset_id = l.asset_id
    WHERE l.direction = 'lend' AND l.status = ANY(%(statuses)s) {where}
)
SELECT GROUPING(counterparty), GROUPING(asset), counterparty, asset, tenor,
       COALESCE(sum(exposure_usd), 0), count(*), count(*) FILTER (WHERE exposure_usd IS NULL),
       COALESCE(sum(exposure_usd) FILTER (WHERE pending), 0)
FROM book
GROUP BY GROUPING SETS ((counterparty), (asset), (tenor))
"""


def _empty() -> dict[str, dict[str, dict[str, Any]]]:
    return {k: {} for k in LimitKind.values}


def _aggregate(rows) -> dict[str, dict[str, dict[str, Any]]]:
    out = _empty()
    for g_cp, g_asset, cp, asset, tenor, exposure, loans, unpriced, pending in rows:
        if not g_cp:
            kind, key = LimitKind.COUNTERPARTY, cp
        elif not g_asset:
            kind, key = LimitKind.ASSET, asset
        else:
            kind, key = LimitKind.TENOR, tenor
        out[kind][key] = {
            "exposure_usd": exposure,
            "loans": loans,
            "unpriced_loans": unpriced,
            "pending_usd": pending,
        }
    return out


def limits_exposure(now: datetime) -> dict[str, dict[str, dict[str, Any]]]:
    """The lend book's USD exposure now, by counterparty code, loan asset symbol and tenor
    bucket: {kind: {key: {exposure_usd, loans, unpriced_loans}}}. One statement."""
    with connection.cursor() as cur:
        cur.execute(
            _exposure_sql(),
            {"now": now, "today": now.date(), "statuses": list(EXPOSURE_STATUSES)},
        )
        rows = cur.fetchall()
    out = _aggregate(rows)
    for groups in out.values():
        for g in groups.values():
            g.pop("pending_usd", None)
    return out


def _status(exposure: Decimal, soft: Decimal, hard: Decimal) -> Status:
    if exposure > hard:
        return "hard"
    if exposure > soft:
        return "soft"
    return "ok"


def _fraction(n: Decimal, d: Decimal) -> Decimal:
    return (n / d).quantize(Decimal("0.000001"), rounding=ROUND_HALF_EVEN)


def limits_usage(
    now: datetime, *, exposure: dict | None = None, limits: list[ConcentrationLimit] | None = None
) -> list[dict[str, Any]]:
    """Every limit beside the exposure it caps: utilisation (of the hard limit) and status."""
    exposure = exposure if exposure is not None else limits_exposure(now)
    if limits is None:
        limits = list(
            ConcentrationLimit.objects.select_related("updated_by").order_by("kind", "key")
        )
    out = []
    for limit in limits:
        group = exposure.get(limit.kind, {}).get(limit.key) or {}
        used = group.get("exposure_usd") or Decimal(0)
        out.append(
            {
                "limit": limit,
                "id": limit.pk,
                "kind": limit.kind,
                "key": limit.key,
                "label": limit_label(limit.kind, limit.key),
                "soft_limit_usd": limit.soft_limit_usd,
                "hard_limit_usd": limit.hard_limit_usd,
                "exposure_usd": used,
                "loans": group.get("loans", 0),
                "unpriced_loans": group.get("unpriced_loans", 0),
                "utilisation": _fraction(used, limit.hard_limit_usd),
                "soft_utilisation": _fraction(used, limit.soft_limit_usd),
                "soft_mark": _fraction(limit.soft_limit_usd, limit.hard_limit_usd),
                "headroom_usd": limit.hard_limit_usd - used,
                "status": _status(used, limit.soft_limit_usd, limit.hard_limit_usd),
                "updated_by": limit.updated_by.username if limit.updated_by_id else None,
                "updated_at": limit.updated_at,
            }
        )
    return out


# ---------------------------------------------------------------- alerts


def dedupe_key(kind: str, key: str) -> str:
    return f"{ALERT_KIND}:{kind}:{key}"


def _limits_url() -> str:
    try:
        return reverse("collateral:limits")
    except NoReverseMatch:
        return "/risk/limits/"


def limits_check(*, now: datetime) -> dict[str, int]:
    """Raise a limit_breach alert for every limit over its soft limit (warning) or its hard
    limit (critical), resolve those back at or under the soft limit (or whose limit is gone).
    An alert whose severity no longer matches (soft became hard, or back) is resolved and
    raised again with the new severity: the alerts service never changes a live alert's
    severity. Safe to run twice: dedupe keys hold one live alert per limit."""
    url = _limits_url()
    with transaction.atomic(), xact_advisory_lock("collateral.limits.check"):
        usage = limits_usage(now)
        live = dict(
            Alert.objects.filter(kind=ALERT_KIND, status__in=LIVE_STATUSES)
            .exclude(dedupe_key="")
            .values_list("dedupe_key", "severity")
        )
        wanted: dict[str, AlertSpec] = {}
        for u in usage:
            if u["status"] == "ok":
                continue
            hard = u["status"] == "hard"
            limit_usd = u["hard_limit_usd"] if hard else u["soft_limit_usd"]
            title = (
                f"{u['label'][0].upper()}{u['label'][1:]}: exposure {usd(u['exposure_usd'])} "
                f"over its {'hard' if hard else 'soft'} limit of {usd(limit_usd)}"
            )
            body = (
                f"The lend book's exposure to {u['label']} is {usd(u['exposure_usd'])} over "
                f"{u['loans']} loan(s): soft limit {usd(u['soft_limit_usd'])}, hard limit "
                f"{usd(u['hard_limit_usd'])} ({u['utilisation'] * 100:.2f}% of hard)."
                + (" New bookings that add to it need an extra approval." if hard else "")
                + (
                    f" {u['unpriced_loans']} loan(s) have no price and are not counted."
                    if u["unpriced_loans"]
                    else ""
                )
            )
            key = dedupe_key(u["kind"], u["key"])
            wanted[key] = AlertSpec(
                kind=ALERT_KIND,
                title=title,
                severity=limit_breach_severity(hard=hard),
                body=body,
                subject_type="concentration_limit",
                subject_id=str(u["id"]),
                subject_url=url,
                dedupe_key=key,
                data={
                    "limit": u["id"],
                    "kind": u["kind"],
                    "key": u["key"],
                    "status": u["status"],
                    "exposure_usd": str(u["exposure_usd"]),
                    "soft_limit_usd": str(u["soft_limit_usd"]),
                    "hard_limit_usd": str(u["hard_limit_usd"]),
                },
            )
        resolved = 0
        for key, severity in sorted(live.items()):
            spec = wanted.get(key)
            if spec is None:
                resolved += alerts_resolve(
                    dedupe_key=key, now=now, note="exposure back at or under the soft limit"
                )
            elif spec.severity != severity:
                moved = "over" if spec.severity == "critical" else "back under"
                resolved += alerts_resolve(
                    dedupe_key=key, now=now, note=f"now {moved} the hard limit: raised again"
                )
        raised = alerts_raise_many(list(wanted.values()), now=now)
    return {
        "limits": len(usage),
        "over_soft": sum(1 for u in usage if u["status"] == "soft"),
        "over_hard": sum(1 for u in usage if u["status"] == "hard"),
        "alerts_raised": raised,
        "alerts_resolved": resolved,
    }


# ---------------------------------------------------------------- the booking check


def _latest_price(asset_id: int, now: datetime) -> Decimal | None:
    with connection.cursor() as cur:
        cur.execute(
            "SELECT price_usd FROM collateral_pricesnapshot WHERE asset_id = %s AND as_of <= %s"
            " ORDER BY as_of DESC, id DESC LIMIT 1",
            [asset_id, now],
        )
        row = cur.fetchone()
    return row[0] if row else None


def limits_booking_check(
    *,
    counterparty,
    asset,
    direction: str,
    principal: Decimal,
    term: str,
    start_date: date,
    maturity_date: date | None,
    now: datetime,
) -> list[BookingFlag]:
    """Flags for a new loan against the limits of its counterparty, its asset and its tenor
    bucket. Past a hard limit: one extra approval (whatever the number of limits passed);
    past a soft limit: a note. The new loan counts at principal x the newest price of its asset,
    on top of the live book and the other loans waiting for approval. No price: a note that the
    limits could not be checked. Borrow loans add no lend exposure: nothing to check."""
    if direction != "lend":
        return []
    bucket = tenor_bucket(term, maturity_date, now.date())
    limits = list(
        ConcentrationLimit.objects.filter(
            Q(kind=LimitKind.COUNTERPARTY, key=counterparty.code)
            | Q(kind=LimitKind.ASSET, key=asset.symbol)
            | Q(kind=LimitKind.TENOR, key=bucket)
        ).order_by("kind", "key")
    )
    if not limits:
        return []
    if connection.in_atomic_block:
        # Bookings against limits go one at a time until each commits, so each one sees the
        # ones before it (as loans pending approval).
        with xact_advisory_lock(BOOKING_LOCK):
            pass
    price = _latest_price(asset.pk, now)
    names = ", ".join(limit_label(lim.kind, lim.key) for lim in limits)
    if price is None:
        return [
            BookingFlag(
                code="limit_unchecked",
                message=(
                    f"Concentration limits ({names}) could not be checked: no {asset.symbol} price."
                ),
                extra_approvals=0,
            )
        ]
    new_usd = (principal * price).quantize(Decimal("1e-18"), rounding=ROUND_HALF_EVEN)
    with connection.cursor() as cur:
        cur.execute(
            _exposure_sql(
                "AND (l.counterparty_id = %(cp)s OR l.asset_id = %(asset)s"
                f" OR ({_tenor_sql()}) = %(bucket)s)"
            ),
            {
                "now": now,
                "today": now.date(),
                "statuses": [*EXPOSURE_STATUSES, "pending_approval"],
                "cp": counterparty.pk,
                "asset": asset.pk,
                "bucket": bucket,
            },
        )
        exposure = _aggregate(cur.fetchall())
    flags: list[BookingFlag] = []
    extra_given = False
    for lim in limits:
        group = exposure[lim.kind].get(lim.key) or {}
        current = group.get("exposure_usd") or Decimal(0)
        pending = group.get("pending_usd") or Decimal(0)
        after = current + new_usd
        if after <= lim.soft_limit_usd:
            continue
        hard = after > lim.hard_limit_usd
        level = "hard" if hard else "soft"
        pending_note = f", of which {usd(pending)} pending approval" if pending else ""
        message = (
            f"Past the {level} limit of {limit_label(lim.kind, lim.key)}: "
            f"{usd(current)} on the book{pending_note} + this loan {usd(new_usd)} = "
            f"{usd(after)} against {usd(lim.hard_limit_usd if hard else lim.soft_limit_usd)}"
            + (" (an extra approval is needed)." if hard and not extra_given else ".")
        )
        flags.append(
            BookingFlag(
                code=f"limit_{level}:{lim.kind}:{lim.key}",
                message=message,
                extra_approvals=1 if hard and not extra_given else 0,
            )
        )
        extra_given = extra_given or hard
    # The hard breaches first: the summary quotes the first flag that adds an approval.
    flags.sort(key=lambda f: (f.extra_approvals == 0, not f.code.startswith("limit_hard")))
    return flags


register_booking_check(limits_booking_check)


# ---------------------------------------------------------------- the job


def _check_limits_job(*, now):
    return limits_check(now=now)


register(
    Job(
        name="check_limits",
        description="Check concentration limits against the lend book's exposure: alerts over "
        "soft (warning) and hard (critical) limits, resolved once back under soft",
        run=_check_limits_job,
        schedule=crontab(minute=20),
        schedule_label="hourly at :20 UTC",
        lock="check_limits",
        expected_every_hours=2,
    )
)
