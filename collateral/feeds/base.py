"""The feeds' one interface: what a fetch delivers (deliveries of validated prices) and
the PriceFeed every adapter implements; the limits on what a delivery may hold."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from collateral.services import PriceInput

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
