"""The feeds configured in settings.PRICE_FEEDS and the pull that runs them: fetch every
feed first, then store each delivery in its own short transaction."""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction

from collateral.feeds.base import MAX_DETAIL, FeedBatch, PriceFeed
from collateral.feeds.files import FileDropFeed
from collateral.feeds.http import HttpJsonFeed
from collateral.services import prices_record

#: One logger for the feeds, whichever module logs.
log = logging.getLogger("collateral.feeds")


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
