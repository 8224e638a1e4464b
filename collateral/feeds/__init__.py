"""Price feeds: adapters behind one interface, and the price pull that runs them.

Two adapters are configured in settings.PRICE_FEEDS: a file drop (`file:/abs/inbox`, JSON and
CSV files) and an HTTP JSON feed (an `http://` or `https://` URL). Manual prices are not a feed:
they need approval (collateral/services/prices.py). The pull fetches every feed first and
only then writes, one short transaction per delivery, so no network I/O runs inside a transaction.

Accepted JSON (files and HTTP): a list of rows, `{"prices": [rows], "source"?, "as_of"?}`, or a
mapping `{"prices": {"BTC": "97000.5"}, "as_of"?, "source"?}`; a row is
`{"asset": "BTC", "price_usd": "97000.5", "as_of": "2026-11-21T10:00:00Z", "source"?}`.
CSV files: a header `asset,price_usd,as_of[,source]`. Prices are decimals (strings or JSON
numbers, never floats); times are ISO 8601 with an offset.

base.py (the interface), parsing.py, files.py and http.py (the adapters), pull.py (the
configured feeds and the pull); every name re-exported here.
"""

from collateral.feeds.base import (  # noqa: F401
    MAX_DETAIL,
    MAX_FILE_BYTES,
    MAX_RESPONSE_BYTES,
    PARTIAL_SUFFIXES,
    Delivery,
    DeliveryRejected,
    FeedBatch,
    PriceFeed,
)
from collateral.feeds.files import FileDropFeed  # noqa: F401
from collateral.feeds.http import HttpJsonFeed  # noqa: F401
from collateral.feeds.parsing import (  # noqa: F401
    build_delivery,
    parse_csv,
    parse_json,
    parse_price,
    parse_time,
    raw_rows,
    safe_source,
)
from collateral.feeds.pull import (  # noqa: F401
    feed_from_entry,
    feeds_from_settings,
    prices_pull,
)
