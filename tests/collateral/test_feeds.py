"""Price feeds: file drops (JSON, CSV), an HTTP JSON feed against a real local server, feeds
configured from settings, and the price-pull job. Time is frozen by passing `now`."""

from __future__ import annotations

import json
import os
import threading
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError
from django.test import override_settings

from collateral.feeds import (
    FeedBatch,
    FileDropFeed,
    HttpJsonFeed,
    PriceFeed,
    feeds_from_settings,
    prices_pull,
)
from collateral.feeds import pull as feeds_pull
from collateral.models import PriceSnapshot
from financing.jobs.models import JobRun
from financing.jobs.services import job_run
from tests.factories import AssetFactory

NOW = datetime(2026, 11, 21, 10, 5, tzinfo=UTC)
AT = "2026-11-21T10:00:00Z"
AT_DT = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)
D = Decimal


@pytest.fixture(autouse=True)
def _no_revaluation():
    with override_settings(REVALUE_ON_PRICES=False):
        yield


@pytest.fixture
def assets(db):
    return {
        "BTC": AssetFactory(symbol="BTC", decimals=8),
        "ETH": AssetFactory(symbol="ETH", decimals=18),
        "OLD": AssetFactory(symbol="OLD", decimals=8, is_active=False),
    }


@pytest.fixture
def inbox(tmp_path):
    return tmp_path / "inbox"


@pytest.fixture
def pull(django_capture_on_commit_callbacks):
    """pull(*feeds, now=NOW) -> counts; runs the on-commit moves as a real commit would."""

    def run(*feed_list, now=NOW):
        with django_capture_on_commit_callbacks(execute=True):
            return prices_pull(now=now, feeds=list(feed_list))

    return run


def drop(directory, name, content: str | bytes | object, *, age: float = 60):
    """Write a file into the inbox as a finished delivery (modified `age` seconds ago)."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif isinstance(content, str):
        path.write_text(content, encoding="utf-8")
    else:
        path.write_text(json.dumps(content), encoding="utf-8")
    past = time.time() - age
    os.utime(path, (past, past))
    return path


def stored():
    return sorted(
        (p.asset.symbol, p.price_usd, p.as_of, p.source)
        for p in PriceSnapshot.objects.select_related("asset")
    )


def names(directory):
    return sorted(p.name for p in directory.iterdir() if p.is_file()) if directory.exists() else []


# ---------------------------------------------------------------- file drops


def test_a_json_drop_is_stored_as_exact_decimals_and_moved_to_processed(assets, inbox, pull):
    drop(
        inbox,
        "Desk Prices.json",
        '[{"asset": "BTC", "price_usd": "97000.5", "as_of": "2026-11-21T10:00:00Z",'
        ' "source": "desk-file"},'
        ' {"asset": "eth", "price_usd": 3500.123456789012345678, "as_of": "2026-11-21T11:00:00+01:00"}]',
    )

    counts = pull(FileDropFeed(inbox))

    assert counts["stored"] == 2 and counts["errors"] == 0 and counts["feeds"] == 1
    # The JSON number keeps all 18 places: it never passed through a float.
    assert stored() == [
        ("BTC", D("97000.5"), AT_DT, "desk-file"),
        ("ETH", D("3500.123456789012345678"), AT_DT, "file:desk-prices"),
    ]
    assert names(inbox) == []
    assert names(inbox / "processed") == ["20261121T100500000000Z-Desk Prices.json"]
    assert PriceSnapshot.objects.first().received_at == NOW


def test_a_json_drop_may_wrap_rows_in_prices_with_document_defaults(assets, inbox, pull):
    drop(
        inbox,
        "a.json",
        {"source": "otc-desk", "as_of": AT, "prices": [{"asset": "BTC", "price_usd": "97000"}]},
    )
    drop(inbox, "b.json", {"as_of": AT, "prices": {"ETH": "3500", "BTC": "97001"}})

    counts = pull(FileDropFeed(inbox))

    assert counts["stored"] == 3
    assert stored() == [
        ("BTC", D("97000"), AT_DT, "otc-desk"),
        ("BTC", D("97001"), AT_DT, "file:b"),
        ("ETH", D("3500"), AT_DT, "file:b"),
    ]


def test_a_csv_drop_with_or_without_a_source_column(assets, inbox, pull):
    drop(inbox, "1.csv", "\ufeffasset,price_usd,as_of\nBTC,97000.25,2026-11-21T10:00:00Z\n\n")
    drop(
        inbox,
        "2.csv",
        "Asset, Price_USD ,as_of,source\n"
        "ETH,3500.5,2026-11-21T10:00:00Z,\n"
        "BTC,96999.75,2026-11-21T10:00:00Z,venue-x\n",
    )

    counts = pull(FileDropFeed(inbox))

    assert counts == {
        "feeds": 1,
        "stored": 3,
        "duplicates": 0,
        "skipped": 0,
        "errors": 0,
        "error_detail": [],
        "skipped_detail": [],
    }
    assert stored() == [
        ("BTC", D("96999.75"), AT_DT, "venue-x"),
        ("BTC", D("97000.25"), AT_DT, "file:1"),
        ("ETH", D("3500.5"), AT_DT, "file:2"),
    ]
    assert len(names(inbox / "processed")) == 2


def test_a_json_file_with_one_bad_row_stores_nothing_and_goes_to_failed(assets, inbox, pull):
    good_too = drop(inbox, "z-good.json", [{"asset": "BTC", "price_usd": "1", "as_of": AT}])
    drop(
        inbox,
        "batch.json",
        [
            {"asset": "BTC", "price_usd": "97000", "as_of": AT},
            {"asset": "DOGE", "price_usd": "0.1", "as_of": AT},
            {"asset": "ETH", "price_usd": "abc", "as_of": AT},
            {"asset": "ETH", "price_usd": "3500", "as_of": "2026-11-21T10:00:00"},
            {"asset": "OLD", "price_usd": "1", "as_of": AT},
            {"asset": "ETH", "price_usd": "-1", "as_of": AT},
            {"asset": "ETH", "price_usd": "3500", "as_of": AT, "source": "manual"},
        ],
    )

    counts = pull(FileDropFeed(inbox))

    assert stored() == [("BTC", D("1"), AT_DT, "file:z-good")]
    assert counts["stored"] == 1 and counts["errors"] == 1
    assert "batch.json: rejected, nothing stored" in counts["error_detail"][0]
    assert names(inbox) == []
    failed = names(inbox / "failed")
    assert failed == [
        "20261121T100500000000Z-batch.json",
        "20261121T100500000000Z-batch.json.error.txt",
    ]
    report = (inbox / "failed" / failed[1]).read_text()
    assert "row 1" not in report
    assert "row 2 (DOGE): DOGE is unknown" in report
    assert "row 3 (ETH): price_usd 'abc' is not a decimal" in report
    assert "row 4 (ETH): as_of '2026-11-21T10:00:00' has no UTC offset" in report
    assert "row 5 (OLD): OLD is inactive" in report
    assert "row 6 (ETH): price_usd: A price above zero" in report
    assert "row 7 (ETH): source manual is for approved manual prices only" in report
    assert not good_too.exists()


def test_a_csv_file_with_a_bad_line_is_rejected_naming_the_line(assets, inbox, pull):
    drop(
        inbox,
        "p.csv",
        "asset,price_usd,as_of\nBTC,97000,2026-11-21T10:00:00Z\nETH,3500,yesterday\nETH,1\n",
    )
    drop(inbox, "q.csv", "symbol,price\nBTC,1\n")

    counts = pull(FileDropFeed(inbox))

    assert stored() == [] and counts["errors"] == 2
    reports = {p.name: p.read_text() for p in (inbox / "failed").glob("*.error.txt")}
    p_report = next(text for name, text in reports.items() if "p.csv" in name)
    assert "line 3 (ETH): as_of 'yesterday' is not an ISO 8601 time" in p_report
    assert "line 4: 2 cells, not 3" in p_report
    q_report = next(text for name, text in reports.items() if "q.csv" in name)
    assert "line 1: the header must be asset,price_usd,as_of[,source]" in q_report


def test_unreadable_and_empty_files_are_rejected(assets, inbox, pull):
    drop(inbox, "a.json", "{not json")
    drop(inbox, "b.json", {"price": 1})
    drop(inbox, "c.json", [])

    counts = pull(FileDropFeed(inbox))

    detail = " | ".join(counts["error_detail"])
    assert "a.json: rejected, nothing stored: invalid JSON" in detail
    assert (
        'b.json: rejected, nothing stored: expected a list of prices or an object with "prices"'
        in detail
    )
    assert "c.json: rejected, nothing stored: no prices in the file" in detail
    assert len(names(inbox / "failed")) == 6


def test_the_same_file_delivered_twice_is_stored_once(assets, inbox, pull):
    body = [{"asset": "BTC", "price_usd": "97000", "as_of": AT}] * 2  # a repeat within a file too
    drop(inbox, "prices.json", body)
    first = pull(FileDropFeed(inbox))
    drop(inbox, "prices.json", body)
    second = pull(FileDropFeed(inbox), now=NOW + timedelta(minutes=1))

    assert (first["stored"], first["duplicates"]) == (1, 0)
    assert (second["stored"], second["duplicates"]) == (0, 1)
    assert PriceSnapshot.objects.count() == 1
    assert len(names(inbox / "processed")) == 2  # both copies acknowledged, no name clash


def test_a_file_with_two_prices_for_the_same_time_and_source_is_rejected(assets, inbox, pull):
    drop(
        inbox,
        "x.json",
        [
            {"asset": "BTC", "price_usd": "97000", "as_of": AT},
            {"asset": "BTC", "price_usd": "97001", "as_of": AT},
        ],
    )
    counts = pull(FileDropFeed(inbox))
    assert PriceSnapshot.objects.count() == 0
    assert (
        "row 2 (BTC): a different price for the same time and source as row 1"
        in (counts["error_detail"][0])
    )


def test_hidden_partial_foreign_and_fresh_files_are_left_in_the_inbox(assets, inbox, pull):
    row = [{"asset": "BTC", "price_usd": "97000", "as_of": AT}]
    for name in (".hidden.json", "upload.json.tmp", "upload.json.part", "notes.txt"):
        drop(inbox, name, row)
    drop(inbox, "fresh.json", row, age=0)  # still being written, perhaps

    counts = pull(FileDropFeed(inbox))

    assert counts["stored"] == 0 and counts["errors"] == 0
    assert names(inbox) == sorted(
        [".hidden.json", "upload.json.tmp", "upload.json.part", "notes.txt", "fresh.json"]
    )
    assert pull(FileDropFeed(inbox, min_age_seconds=0))["stored"] == 1


def test_the_inbox_and_its_folders_are_created_when_missing(db, inbox, pull):
    assert pull(FileDropFeed(inbox))["errors"] == 0
    assert (inbox / "processed").is_dir() and (inbox / "failed").is_dir()


def test_a_failed_database_write_leaves_the_file_in_the_inbox(assets, inbox, pull, monkeypatch):
    drop(inbox, "p.json", [{"asset": "BTC", "price_usd": "97000", "as_of": AT}])

    def broken(**kwargs):
        raise DatabaseError("connection lost")

    monkeypatch.setattr(feeds_pull, "prices_record", broken)
    counts = pull(FileDropFeed(inbox))
    assert counts["errors"] == 1
    assert "p.json: not stored: DatabaseError: connection lost" in counts["error_detail"][0]
    assert names(inbox) == ["p.json"] and names(inbox / "processed") == []

    monkeypatch.undo()
    assert pull(FileDropFeed(inbox))["stored"] == 1
    assert names(inbox) == []


# ---------------------------------------------------------------- HTTP JSON feed


class FeedServer:
    """A real HTTP server on 127.0.0.1: routes[path] = (status, body, delay_seconds)."""

    def __init__(self):
        self.routes: dict[str, tuple[int, bytes | str | object, float]] = {}
        self.hits: list[str] = []
        routes, hits = self.routes, self.hits

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                hits.append(self.path)
                status, body, delay = routes.get(self.path, (404, b"", 0))
                time.sleep(delay)
                if not isinstance(body, bytes | str):
                    body = json.dumps(body)
                data = body.encode() if isinstance(body, str) else body
                try:
                    self.send_response(status)
                    if status in (301, 302):
                        self.send_header("Location", data.decode())
                        data = b""
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:
                    pass  # the client gave up (the timeout test)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_port}{path}"

    @property
    def source(self) -> str:
        return f"http:127.0.0.1:{self.httpd.server_port}"

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    srv = FeedServer()
    yield srv
    srv.close()


def test_http_mapping_shape_is_stored_with_the_feed_time(assets, server, pull):
    server.routes["/px"] = (200, {"as_of": AT, "prices": {"BTC": "97000.5", "ETH": 3500}}, 0)

    counts = pull(HttpJsonFeed(server.url("/px"), timeout=5))

    assert counts["stored"] == 2 and counts["errors"] == 0
    assert stored() == [
        ("BTC", D("97000.5"), AT_DT, server.source),
        ("ETH", D("3500"), AT_DT, server.source),
    ]


def test_http_mapping_without_as_of_is_as_of_the_fetch(assets, server, pull):
    server.routes["/px"] = (200, '{"prices": {"BTC": 97000.123456789012345678}}', 0)

    pull(HttpJsonFeed(server.url("/px"), timeout=5))

    assert stored() == [("BTC", D("97000.123456789012345678"), NOW, server.source)]


def test_http_list_shape_with_its_own_sources(assets, server, pull):
    server.routes["/list"] = (
        200,
        [
            {"asset": "BTC", "price_usd": "97000", "as_of": AT, "source": "venue-a"},
            {"asset": "BTC", "price_usd": "97002", "as_of": AT, "source": "venue-b"},
        ],
        0,
    )
    server.routes["/wrapped"] = (200, {"prices": [{"asset": "ETH", "price_usd": "3500"}]}, 0)

    counts = pull(
        HttpJsonFeed(server.url("/list"), timeout=5),
        HttpJsonFeed(server.url("/wrapped"), timeout=5),
    )

    assert counts["stored"] == 3 and counts["feeds"] == 2
    assert stored() == [
        ("BTC", D("97000"), AT_DT, "venue-a"),
        ("BTC", D("97002"), AT_DT, "venue-b"),
        ("ETH", D("3500"), NOW, server.source),
    ]


def test_http_unknown_symbols_are_skipped_and_bad_prices_reported(assets, server, pull):
    server.routes["/px"] = (
        200,
        {"as_of": AT, "prices": {"BTC": "97000", "DOGE": "0.1", "OLD": "5", "ETH": "n/a"}},
        0,
    )
    feed = HttpJsonFeed(server.url("/px"), timeout=5)

    counts = pull(feed)

    assert stored() == [("BTC", D("97000"), AT_DT, server.source)]
    assert counts["skipped"] == 2
    assert counts["skipped_detail"] == [
        f"{feed.name}: DOGE is unknown",
        f"{feed.name}: OLD is inactive",
    ]
    assert counts["errors"] == 1
    assert counts["error_detail"] == [f"{feed.name}: ETH: price_usd 'n/a' is not a decimal"]


def test_http_500_is_an_error_and_a_file_feed_in_the_same_pull_still_stores(
    assets, server, inbox, pull
):
    server.routes["/px"] = (500, b"upstream down", 0)
    drop(inbox, "p.json", [{"asset": "BTC", "price_usd": "97000", "as_of": AT}])
    feed = HttpJsonFeed(server.url("/px"), timeout=5)

    counts = pull(feed, FileDropFeed(inbox))

    assert counts["feeds"] == 2 and counts["stored"] == 1 and counts["errors"] == 1
    assert counts["error_detail"] == [f"{feed.name}: HTTP 500"]
    assert stored() == [("BTC", D("97000"), AT_DT, "file:p")]


def test_http_timeout_is_reported(assets, server, pull):
    server.routes["/slow"] = (200, {"prices": {"BTC": "97000"}}, 1.0)
    feed = HttpJsonFeed(server.url("/slow"), timeout=0.2)

    started = time.monotonic()
    counts = pull(feed)

    assert time.monotonic() - started < 1.0
    assert counts["error_detail"] == [f"{feed.name}: no response within 0.2s"]
    assert PriceSnapshot.objects.count() == 0


def test_http_invalid_json_and_unreachable_are_reported(assets, server, pull):
    server.routes["/bad"] = (200, b"<html>oops</html>", 0)
    port = server.httpd.server_port
    dead = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    dead_port = dead.server_port
    dead.server_close()  # nothing listens there any more

    counts = pull(
        HttpJsonFeed(server.url("/bad"), timeout=5),
        HttpJsonFeed(f"http://127.0.0.1:{dead_port}/px", timeout=5),
    )

    assert counts["errors"] == 2
    assert counts["error_detail"][0].startswith(f"http://127.0.0.1:{port}/bad: invalid JSON")
    assert counts["error_detail"][1].startswith(f"http://127.0.0.1:{dead_port}/px: unreachable")


def test_http_redirects_never_lead_to_a_local_file(assets, server, tmp_path, pull):
    secret = drop(tmp_path, "secret.json", {"prices": {"BTC": "1"}})
    server.routes["/moved"] = (302, f"file://{secret}", 0)
    server.routes["/hop"] = (302, server.url("/px"), 0)
    server.routes["/px"] = (200, {"as_of": AT, "prices": {"BTC": "97000"}}, 0)

    counts = pull(
        HttpJsonFeed(server.url("/moved"), timeout=5), HttpJsonFeed(server.url("/hop"), timeout=5)
    )

    moved = server.url("/moved")
    assert counts["error_detail"] == [f"{moved}: HTTP 302: redirect to a non-HTTP URL refused"]
    assert stored() == [("BTC", D("97000"), AT_DT, server.source)]  # http -> http is followed


def test_a_feed_that_blows_up_does_not_stop_the_others(assets, inbox, pull):
    class Broken(PriceFeed):
        name = "broken"

        def fetch(self, *, now) -> FeedBatch:
            raise RuntimeError("bug")

    drop(inbox, "p.json", [{"asset": "BTC", "price_usd": "97000", "as_of": AT}])
    counts = pull(Broken(), FileDropFeed(inbox))
    assert counts["stored"] == 1
    assert counts["error_detail"] == ["broken: failed: RuntimeError: bug"]


# ---------------------------------------------------------------- settings and the job


def test_feeds_are_built_from_settings(tmp_path):
    with override_settings(
        PRICE_FEEDS=[
            f"file:{tmp_path}",
            " https://user:pw@feed.example:8443/v1/px?key=s3cret ",
            "",
        ],
        PRICE_FEED_TIMEOUT_SECONDS=3.5,
    ):
        file_feed, http_feed = feeds_from_settings()

    assert isinstance(file_feed, FileDropFeed) and file_feed.directory == tmp_path
    assert isinstance(http_feed, HttpJsonFeed) and http_feed.timeout == 3.5
    # Shown in job counts: no credentials, no query string.
    assert http_feed.name == "https://feed.example:8443/v1/px"
    assert http_feed.default_source == "http:feed.example:8443"
    with override_settings(PRICE_FEEDS=[]):
        assert feeds_from_settings() == []


@pytest.mark.parametrize(
    "entry",
    [
        "http:http://feed.example/px",
        "ftp://feed.example/px",
        "file:var/prices",
        "file://host/x",
        "prices",
        "http://",
        "http://feed.example:port/px",
    ],
)
def test_a_bad_feed_entry_is_refused_by_name(entry):
    with (
        override_settings(PRICE_FEEDS=["file:/tmp/ok", entry]),
        pytest.raises(ImproperlyConfigured, match=r"must be http|is not a price feed") as exc,
    ):
        feeds_from_settings()
    assert repr(entry) in str(exc.value)


@pytest.mark.django_db(transaction=True)
def test_the_pull_prices_job_stores_prices_and_records_its_counts(inbox):
    AssetFactory(symbol="BTC", decimals=8)
    at = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)
    drop(inbox, "p.json", [{"asset": "BTC", "price_usd": "97000.5", "as_of": at.isoformat()}])
    drop(inbox, "bad.json", [{"asset": "NOPE", "price_usd": "1", "as_of": at.isoformat()}])

    with override_settings(PRICE_FEEDS=[f"file:{inbox}"], REVALUE_ON_PRICES=False):
        run = job_run("pull_prices", trigger="manual")

    assert run.status == JobRun.Status.SUCCEEDED
    saved = JobRun.objects.get(pk=run.pk)
    assert saved.counts["feeds"] == 1 and saved.counts["stored"] == 1
    assert saved.counts["errors"] == 1 and "NOPE is unknown" in saved.counts["error_detail"][0]
    assert PriceSnapshot.objects.get().price_usd == D("97000.5")
    assert names(inbox) == []
    assert len(names(inbox / "processed")) == 1 and len(names(inbox / "failed")) == 2


@pytest.mark.django_db(transaction=True)
def test_the_pull_prices_job_fails_loudly_on_a_bad_setting():
    with (
        override_settings(PRICE_FEEDS=["http:http://feed.example/px"]),
        pytest.raises(ImproperlyConfigured),
    ):
        job_run("pull_prices", trigger="manual")
    run = JobRun.objects.get(job="pull_prices")
    assert run.status == JobRun.Status.FAILED and "is not a price feed" in run.error
