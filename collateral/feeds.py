"""Price feeds: adapters behind one interface, and the price pull that runs them.

Two adapters are configured in settings.PRICE_FEEDS: a file drop (`file:/abs/inbox`, JSON and
CSV files) and an HTTP JSON feed (an `http://` or `https://` URL). Manual prices are not a feed:
they need approval (collateral/services.py). The pull fetches every feed first and only then
writes, one short transaction per delivery, so no network I/O runs inside a transaction.

Accepted JSON (files and HTTP): a list of rows, `{"prices": [rows], "source"?, "as_of"?}`, or a
mapping `{"prices": {"BTC": "97000.5"}, "as_of"?, "source"?}`; a row is
`{"asset": "BTC", "price_usd": "97000.5", "as_of": "2026-11-21T10:00:00Z", "source"?}`.
CSV files: a header `asset,price_usd,as_of[,source]`. Prices are decimals (strings or JSON
numbers, never floats); times are ISO 8601 with an offset.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import re
import time
import urllib.error
import urllib.request
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from http.client import HTTPException
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction

from collateral.services import MANUAL, PriceInput, price_validate, prices_record
from financing.errors import InvalidInput
from financing.refdata.models import Asset

log = logging.getLogger(__name__)

#: Files a writer has not finished: write to one of these names, then rename.
PARTIAL_SUFFIXES = (".tmp", ".part", ".partial", ".crdownload", ".swp", "~")
MAX_FILE_BYTES = 10 * 1024 * 1024
MAX_RESPONSE_BYTES = 5 * 1024 * 1024
#: At most this many error and skip messages go into the job's counts (the log has them all).
MAX_DETAIL = 20


class DeliveryRejected(Exception):
    """The whole delivery (a file, a response) is unusable: nothing from it is stored."""


@dataclass
class Delivery:
    """One unit a feed delivers: a dropped file or one HTTP response. `rows` are the valid
    prices. An atomic delivery (a file) with any problem is rejected whole; otherwise problem
    rows are reported and the rest stored. `skipped` are prices of assets the desk does not
    hold: normal for a public feed, reported but not errors."""

    name: str
    rows: list[PriceInput] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    atomic: bool = False
    path: Path | None = None

    @property
    def rejected(self) -> bool:
        return self.atomic and bool(self.problems)


@dataclass
class FeedBatch:
    """What one fetch produced: deliveries and feed-level errors (unreachable, HTTP 500)."""

    deliveries: list[Delivery] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def rows(self) -> list[PriceInput]:
        return [row for d in self.deliveries if not d.rejected for row in d.rows]


class PriceFeed(ABC):
    """A source of prices. `fetch` reads and validates (no writes); the pull stores each
    delivery and then calls `settle` with the outcome: "stored" (after commit), "rejected"
    or "failed" (the write failed: the delivery must be offered again next time)."""

    name: str

    @abstractmethod
    def fetch(self, *, now: datetime) -> FeedBatch: ...

    def settle(self, delivery: Delivery, *, outcome: str, now: datetime) -> None:  # noqa: B027
        """Nothing to acknowledge by default (an HTTP feed is simply read again)."""


# ---------------------------------------------------------------- parsing


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


def _raw_rows(doc: Any) -> tuple[list[tuple[str, dict]], dict]:
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


# ---------------------------------------------------------------- file drop


class FileDropFeed(PriceFeed):
    """JSON and CSV files dropped into an inbox directory, processed in name order. A file is
    all or nothing: a good one is stored and moved to processed/ after commit, a bad one moved
    to failed/ with `<name>.error.txt`; if the write fails it stays for the next pull. Writers
    write to a dotfile or a *.tmp/*.part name and rename when done; a file modified in the last
    `min_age_seconds` is left for the next pull too."""

    def __init__(self, directory: Path | str, *, min_age_seconds: float = 2.0):
        self.directory = Path(directory)
        self.min_age_seconds = min_age_seconds
        self.name = f"file:{self.directory}"

    def _pending(self) -> list[Path]:
        for folder in (self.directory, self.directory / "processed", self.directory / "failed"):
            folder.mkdir(parents=True, exist_ok=True)
        fresh_after = time.time() - self.min_age_seconds
        out = []
        for path in sorted(self.directory.iterdir()):
            name = path.name
            if name.startswith(".") or name.lower().endswith(PARTIAL_SUFFIXES):
                continue
            if path.suffix.lower() not in (".json", ".csv") or not path.is_file():
                continue
            if self.min_age_seconds and path.stat().st_mtime > fresh_after:
                continue
            out.append(path)
        return out

    def fetch(self, *, now: datetime) -> FeedBatch:
        batch = FeedBatch()
        for path in self._pending():
            delivery = Delivery(name=path.name, atomic=True, path=path)
            raw: list = []
            try:
                if path.stat().st_size > MAX_FILE_BYTES:
                    raise DeliveryRejected(f"larger than {MAX_FILE_BYTES} bytes")
                data = path.read_bytes()
                if path.suffix.lower() == ".json":
                    raw, defaults = _raw_rows(parse_json(data))
                else:
                    raw, defaults = parse_csv(data), {}
                build_delivery(
                    delivery,
                    raw,
                    now=now,
                    default_source=defaults.get("source") or safe_source(f"file:{path.stem}"),
                    default_as_of=defaults.get("as_of"),
                    strict_assets=True,
                )
            except DeliveryRejected as exc:
                delivery.problems.append(str(exc))
            except OSError as exc:  # vanished or unreadable: try again next pull
                batch.errors.append(f"{path.name}: {exc.strerror or exc}")
                continue
            if not raw and not delivery.problems:
                delivery.problems.append("no prices in the file")
            batch.deliveries.append(delivery)
        return batch

    def settle(self, delivery: Delivery, *, outcome: str, now: datetime) -> None:
        if delivery.path is None or outcome == "failed":
            return
        folder = self.directory / ("processed" if outcome == "stored" else "failed")
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / f"{now:%Y%m%dT%H%M%S%fZ}-{delivery.path.name}"
        n = 1
        while target.exists() or target.with_name(f"{target.name}.error.txt").exists():
            target = folder / f"{now:%Y%m%dT%H%M%S%fZ}-{n}-{delivery.path.name}"
            n += 1
        if outcome == "rejected":
            report = [f"{delivery.path.name} rejected at {now.isoformat()}; nothing stored."]
            target.with_name(f"{target.name}.error.txt").write_text(
                "\n".join([*report, *delivery.problems, ""]), encoding="utf-8"
            )
        try:
            os.replace(delivery.path, target)
        except FileNotFoundError:
            log.warning("price file %s vanished before it could be moved", delivery.path)


# ---------------------------------------------------------------- HTTP JSON feed


class _HttpOnlyRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        if urlsplit(newurl).scheme not in ("http", "https"):
            raise DeliveryRejected(f"HTTP {code}: redirect to a non-HTTP URL refused")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _opener() -> urllib.request.OpenerDirector:
    """HTTP and HTTPS only: no file://, ftp:// or data: handlers, even behind a redirect."""
    opener = urllib.request.OpenerDirector()
    for handler in (
        urllib.request.ProxyHandler(),
        urllib.request.HTTPHandler(),
        urllib.request.HTTPSHandler(),
        urllib.request.HTTPDefaultErrorHandler(),
        _HttpOnlyRedirects(),
        urllib.request.HTTPErrorProcessor(),
    ):
        opener.add_handler(handler)
    return opener


class HttpJsonFeed(PriceFeed):
    """A JSON feed read with GET. Prices of assets the desk does not hold are skipped; a bad
    price for a held asset is an error and the rest are stored. Without an as_of the prices
    are as of the fetch."""

    def __init__(self, url: str, *, timeout: float = 10.0):
        parts = urlsplit(url)
        try:
            port = parts.port
        except ValueError:
            port = -1
        if parts.scheme not in ("http", "https") or not parts.hostname or port == -1:
            raise ImproperlyConfigured(f"Price feed URL {url!r} must be http:// or https://.")
        self.url = url
        self.timeout = timeout
        # Shown in job counts and logs: no credentials, no query string (it may hold a token).
        netloc = parts.hostname + (f":{port}" if port else "")
        self.name = f"{parts.scheme}://{netloc}{parts.path}"
        self.default_source = safe_source(f"http:{netloc}")

    def _get(self) -> bytes:
        request = urllib.request.Request(  # noqa: S310 - the scheme is checked in __init__
            self.url, headers={"Accept": "application/json", "User-Agent": "financing-desk"}
        )
        deadline = time.monotonic() + self.timeout
        with _opener().open(request, timeout=self.timeout) as resp:
            if resp.status != 200:
                raise DeliveryRejected(f"HTTP {resp.status}")
            chunks, size = [], 0
            while chunk := resp.read(64 * 1024):
                size += len(chunk)
                if size > MAX_RESPONSE_BYTES:
                    raise DeliveryRejected(f"response larger than {MAX_RESPONSE_BYTES} bytes")
                if time.monotonic() > deadline:
                    raise DeliveryRejected(f"no complete response within {self.timeout}s")
                chunks.append(chunk)
        return b"".join(chunks)

    def fetch(self, *, now: datetime) -> FeedBatch:
        batch = FeedBatch()
        try:
            raw, defaults = _raw_rows(parse_json(self._get()))
        except urllib.error.HTTPError as exc:
            # urllib refuses a redirect to file:// or ftp:// itself, as an HTTPError.
            moved = ": redirect to a non-HTTP URL refused" if 300 <= exc.code < 400 else ""
            batch.errors.append(f"HTTP {exc.code}{moved}")
            return batch
        except DeliveryRejected as exc:
            batch.errors.append(str(exc))
            return batch
        except TimeoutError:
            batch.errors.append(f"no response within {self.timeout}s")
            return batch
        except urllib.error.URLError as exc:
            reason = exc.reason
            if isinstance(reason, TimeoutError):
                batch.errors.append(f"no response within {self.timeout}s")
            else:
                batch.errors.append(f"unreachable: {reason}")
            return batch
        except (OSError, HTTPException) as exc:
            batch.errors.append(f"unreachable: {exc.__class__.__name__}: {exc}")
            return batch
        delivery = Delivery(name=self.name)
        batch.deliveries.append(
            build_delivery(
                delivery,
                raw,
                now=now,
                default_source=defaults.get("source") or self.default_source,
                default_as_of=defaults.get("as_of", now),
                strict_assets=False,
            )
        )
        return batch


# ---------------------------------------------------------------- configuration and the pull


def feed_from_entry(entry: str, *, timeout: float) -> PriceFeed:
    """`file:/absolute/inbox/dir`, or an `http://` / `https://` URL (the URL itself)."""
    if entry.startswith(("http://", "https://")):
        return HttpJsonFeed(entry, timeout=timeout)
    if entry.startswith("file:") and not entry.startswith("file://"):
        path = Path(entry.removeprefix("file:"))
        if path.is_absolute():
            return FileDropFeed(path)
    raise ImproperlyConfigured(
        f"PRICE_FEEDS entry {entry!r} is not a price feed: write file:/absolute/inbox/directory "
        "for a file drop, or the http:// or https:// URL itself for an HTTP JSON feed."
    )


def feeds_from_settings() -> list[PriceFeed]:
    timeout = float(settings.PRICE_FEED_TIMEOUT_SECONDS)
    entries = [e.strip() for e in settings.PRICE_FEEDS if e and e.strip()]
    return [feed_from_entry(entry, timeout=timeout) for entry in entries]


def _settle(feed, delivery, *, outcome: str, now: datetime, where: str, errors: list) -> None:
    try:
        feed.settle(delivery, outcome=outcome, now=now)
    except OSError as exc:
        log.exception("settling %s (%s) failed", where, outcome)
        errors.append(f"{where}: {outcome}, but not moved: {exc.strerror or exc}")


def _store(feed, delivery, *, now: datetime, where: str, errors: list) -> dict[str, int]:
    with transaction.atomic():
        result = prices_record(rows=delivery.rows, now=now, validated=True)
        # Acknowledge the delivery (move the file) only once its prices are committed.
        transaction.on_commit(
            lambda: _settle(feed, delivery, outcome="stored", now=now, where=where, errors=errors)
        )
    return result


def prices_pull(*, now: datetime, feeds: list[PriceFeed] | None = None) -> dict[str, Any]:
    """Run every configured feed: fetch each (network and disk, no transaction open), then
    store each delivery in its own transaction. One failing feed or delivery never stops the
    others. Returns JSON-able counts for the job run."""
    feeds = feeds_from_settings() if feeds is None else feeds
    counts = {"feeds": len(feeds), "stored": 0, "duplicates": 0, "skipped": 0, "errors": 0}
    errors: list[str] = []
    skipped: list[str] = []
    for feed in feeds:
        try:
            batch = feed.fetch(now=now)
        except Exception as exc:
            log.exception("price feed %s failed", feed.name)
            batch = FeedBatch(errors=[f"failed: {exc.__class__.__name__}: {exc}"])
        errors += [f"{feed.name}: {e}" for e in batch.errors]
        for delivery in batch.deliveries:
            where = feed.name if delivery.name == feed.name else f"{feed.name}/{delivery.name}"
            skipped += [f"{where}: {s}" for s in delivery.skipped]
            counts["skipped"] += len(delivery.skipped)
            if delivery.rejected:
                errors.append(f"{where}: rejected, nothing stored: {'; '.join(delivery.problems)}")
                _settle(feed, delivery, outcome="rejected", now=now, where=where, errors=errors)
                continue
            errors += [f"{where}: {p}" for p in delivery.problems]
            try:
                result = _store(feed, delivery, now=now, where=where, errors=errors)
            except Exception as exc:
                log.exception("storing prices from %s failed", where)
                errors.append(f"{where}: not stored: {exc.__class__.__name__}: {exc}")
                _settle(feed, delivery, outcome="failed", now=now, where=where, errors=errors)
                continue
            counts["stored"] += result["stored"]
            counts["duplicates"] += result["duplicates"]
    for message in errors:
        log.warning("price pull: %s", message)
    counts["errors"] = len(errors)
    return {
        **counts,
        "error_detail": [m[:300] for m in errors[:MAX_DETAIL]],
        "skipped_detail": [m[:300] for m in skipped[:MAX_DETAIL]],
    }
