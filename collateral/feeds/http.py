"""The HTTP JSON feed: one GET per pull, HTTP and HTTPS only (even behind a redirect)."""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from datetime import datetime
from http.client import HTTPException
from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured

from collateral.feeds.base import (
    MAX_RESPONSE_BYTES,
    Delivery,
    DeliveryRejected,
    FeedBatch,
    PriceFeed,
)
from collateral.feeds.parsing import build_delivery, parse_json, raw_rows, safe_source


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
            raw, defaults = raw_rows(parse_json(self._get()))
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
