"""Reading a delivery: JSON documents and CSV files into validated price rows (decimals,
aware times), a problem per bad row."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from collateral.feeds.base import Delivery, DeliveryRejected
from collateral.services import MANUAL, PriceInput, price_validate
from financing.errors import InvalidInput
from financing.refdata.models import Asset


def safe_source(raw: str) -> str:
    """A source name the services accept (`^[a-z0-9][a-z0-9_.:-]{0,63}$`)."""
    text = re.sub(r"[^a-z0-9_.:-]+", "-", raw.strip().lower()).strip("-_.:")
    return text[:64].rstrip("-_.:") or "feed"


def _text(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{what} missing or not text")
    return value.strip()


def parse_price(value: Any) -> Decimal:
    if isinstance(value, Decimal):
        return value
    if isinstance(value, str):
        try:
            return Decimal(value.strip())
        except InvalidOperation:
            pass
    raise ValueError(f"price_usd {value!r} is not a decimal")


def parse_time(value: Any) -> datetime:
    try:
        at = datetime.fromisoformat(_text(value, "as_of"))
    except ValueError:
        raise ValueError(f"as_of {value!r} is not an ISO 8601 time") from None
    if at.tzinfo is None:
        raise ValueError(f"as_of {value!r} has no UTC offset")
    return at.astimezone(UTC)


def raw_rows(doc: Any) -> tuple[list[tuple[str, dict]], dict]:
    """(label, row) pairs and document-level defaults of a parsed JSON document."""
    if isinstance(doc, list):
        items, defaults = doc, {}
    elif isinstance(doc, dict) and "prices" in doc:
        items = doc["prices"]
        defaults = {k: doc[k] for k in ("as_of", "source") if doc.get(k) is not None}
    else:
        raise DeliveryRejected('expected a list of prices or an object with "prices"')
    if isinstance(items, dict):
        return [("", {"asset": sym, "price_usd": px}) for sym, px in items.items()], defaults
    if not isinstance(items, list):
        raise DeliveryRejected('"prices" must be a list or an object of symbol: price')
    return [(f"row {i}", item) for i, item in enumerate(items, start=1)], defaults


def build_delivery(
    delivery: Delivery,
    raw: list[tuple[str, Any]],
    *,
    now: datetime,
    default_source: str,
    default_as_of: Any = None,
    strict_assets: bool,
) -> Delivery:
    """Turn raw rows into validated PriceInputs on `delivery`. An unknown or inactive asset is
    a problem when `strict_assets` (a file the desk prepared), otherwise skipped (a feed)."""
    symbols = {
        r["asset"].strip().upper()
        for _, r in raw
        if isinstance(r, dict) and isinstance(r.get("asset"), str)
    }
    assets = {a.symbol: a for a in Asset.objects.filter(symbol__in=symbols)}
    seen: dict[tuple, tuple[str, Decimal]] = {}
    for where, r in raw:
        label = where or "entry"
        try:
            if isinstance(r, str):  # a CSV line that could not be read as a row
                raise ValueError(r)
            if not isinstance(r, dict):
                raise ValueError("not an object")
            symbol = _text(r.get("asset"), "asset").upper()
            label = f"{where} ({symbol})" if where else symbol
            asset = assets.get(symbol)
            if asset is None or not asset.is_active:
                reason = f"{symbol} is {'unknown' if asset is None else 'inactive'}"
                if not strict_assets:
                    delivery.skipped.append(reason)
                    continue
                raise ValueError(reason)
            source = _text(r.get("source") or default_source, "source")
            if source == MANUAL:
                raise ValueError("source manual is for approved manual prices only")
            as_of = r.get("as_of") if r.get("as_of") is not None else default_as_of
            if as_of is None:
                raise ValueError("as_of missing")
            row = PriceInput(
                asset=asset,
                price_usd=parse_price(r.get("price_usd")),
                as_of=as_of if isinstance(as_of, datetime) else parse_time(as_of),
                source=source,
            )
            price_validate(row, now=now)
        except ValueError as exc:
            delivery.problems.append(f"{label}: {exc}")
            continue
        except InvalidInput as exc:
            delivery.problems.append(f"{label}: {exc.field or 'row'}: {exc.message}")
            continue
        key = (asset.pk, row.source, row.as_of)
        if key in seen:
            first, price = seen[key]
            if price != row.price_usd:
                delivery.problems.append(
                    f"{label}: a different price for the same time and source as {first}"
                )
            continue
        seen[key] = (label, row.price_usd)
        delivery.rows.append(row)
    return delivery


def parse_json(data: bytes) -> Any:
    """JSON with every number a Decimal: a price never passes through a float."""
    try:
        return json.loads(data, parse_float=Decimal, parse_int=Decimal)
    except (ValueError, RecursionError) as exc:
        raise DeliveryRejected(f"invalid JSON: {exc}") from None


def parse_csv(data: bytes) -> list[tuple[str, dict]]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise DeliveryRejected("not UTF-8 text") from None
    reader = csv.reader(io.StringIO(text, newline=""))
    header = [h.strip().lower() for h in next(reader, [])]
    required, allowed = {"asset", "price_usd", "as_of"}, {"asset", "price_usd", "as_of", "source"}
    if not required <= set(header) or not set(header) <= allowed or len(set(header)) < len(header):
        raise DeliveryRejected(
            f"line 1: the header must be asset,price_usd,as_of[,source], not {','.join(header)}"
        )
    rows = []
    for cells in reader:
        if not any(c.strip() for c in cells):
            continue
        if len(cells) != len(header):
            rows.append((f"line {reader.line_num}", f"{len(cells)} cells, not {len(header)}"))
            continue
        row = {h: c.strip() or None for h, c in zip(header, cells, strict=True)}
        rows.append((f"line {reader.line_num}", row))
    return rows
