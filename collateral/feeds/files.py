"""The file-drop feed: JSON and CSV files in an inbox directory, moved to processed/ or
failed/ once settled."""

from __future__ import annotations

import logging
import os
import time
from datetime import datetime
from pathlib import Path

from collateral.feeds.base import (
    MAX_FILE_BYTES,
    PARTIAL_SUFFIXES,
    Delivery,
    DeliveryRejected,
    FeedBatch,
    PriceFeed,
)
from collateral.feeds.parsing import build_delivery, parse_csv, parse_json, raw_rows, safe_source

#: One logger for the feeds, whichever module logs.
log = logging.getLogger("collateral.feeds")


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
                    raw, defaults = raw_rows(parse_json(data))
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
