"""Treasury services: balances imported from a CSV or XLSX file (pandas, every value as text)."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation

from financing.errors import InvalidInput
from treasury.models import TreasuryAccount
from treasury.services._common import _check_amount, _check_as_of, _require
from treasury.services.balances import BalanceInput, balances_record

MAX_IMPORT_BYTES = 5 * 1024 * 1024
MAX_IMPORT_ROWS = 10_000
IMPORT_COLUMNS = ("venue", "asset", "purpose", "amount", "as_of")
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
#: How many row errors an import answers with; past that the file needs a closer look anyway.
MAX_ROW_ERRORS = 20


def _read_frame(data: bytes, filename: str):
    import pandas as pd

    lower = filename.lower()
    try:
        if lower.endswith(".csv"):
            frame = pd.read_csv(
                io.BytesIO(data),
                dtype=str,
                keep_default_na=False,
                na_filter=False,
                skipinitialspace=True,
                encoding="utf-8-sig",
            )
        elif lower.endswith(".xlsx"):
            frame = pd.read_excel(
                io.BytesIO(data),
                dtype=str,
                keep_default_na=False,
                na_filter=False,
                engine="openpyxl",
            )
        else:
            raise InvalidInput("A .csv or .xlsx file.", field="file")
    except InvalidInput:
        raise
    except Exception as exc:  # whatever the parser trips on, the file is the problem
        kind = "CSV" if lower.endswith(".csv") else "XLSX"
        raise InvalidInput(
            f"Not a readable {kind} file ({exc.__class__.__name__}).", field="file"
        ) from None
    return frame


def _parse_time(text: str) -> datetime:
    """ISO 8601; a file's time without an offset is read as UTC (a spreadsheet date cell cannot
    carry one)."""
    value = datetime.fromisoformat(text.strip().replace(" UTC", "Z"))
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def balances_import(
    *, actor, file_obj=None, data: bytes | None = None, filename: str, now: datetime
) -> dict[str, int]:
    """Import balance snapshots from a CSV or XLSX file with the columns venue, asset, purpose,
    amount, as_of. Every value is read as text, so no amount passes through a float. All rows
    or none: the first errors are answered, each naming its row as a spreadsheet numbers it
    (the header is row 1)."""
    _require(actor, "import balances")
    if data is None:
        if file_obj is None:
            raise InvalidInput("Attach a file.", field="file")
        if getattr(file_obj, "size", 0) and file_obj.size > MAX_IMPORT_BYTES:
            raise InvalidInput(f"At most {MAX_IMPORT_BYTES:,} bytes.", field="file")
        data = file_obj.read(MAX_IMPORT_BYTES + 1)
    if len(data) > MAX_IMPORT_BYTES:
        raise InvalidInput(f"At most {MAX_IMPORT_BYTES:,} bytes.", field="file")
    if not data.strip():
        raise InvalidInput("The file is empty.", field="file")
    frame = _read_frame(data, filename or "")
    columns = [str(c).strip().lower() for c in frame.columns]
    missing = [c for c in IMPORT_COLUMNS if c not in columns]
    unknown = [c for c in columns if c not in IMPORT_COLUMNS]
    if missing or unknown or len(set(columns)) != len(columns):
        parts = []
        if missing:
            parts.append("missing " + ", ".join(missing))
        if unknown:
            parts.append("unknown " + ", ".join(unknown[:10]))
        if len(set(columns)) != len(columns):
            parts.append("a column appears twice")
        raise InvalidInput(
            f"Columns must be {', '.join(IMPORT_COLUMNS)}: {'; '.join(parts)}.", field="file"
        )
    frame.columns = columns
    if len(frame) == 0:
        raise InvalidInput("The file has no rows.", field="file")
    if len(frame) > MAX_IMPORT_ROWS:
        raise InvalidInput(f"At most {MAX_IMPORT_ROWS} rows per file.", field="file")
    records = frame[list(IMPORT_COLUMNS)].to_dict("records")

    wanted = {
        (
            str(r["venue"]).strip().upper(),
            str(r["asset"]).strip().upper(),
            str(r["purpose"]).strip().lower(),
        )
        for r in records
    }
    accounts = {
        (a.venue.code, a.asset.symbol, a.purpose): a
        for a in TreasuryAccount.objects.select_related("venue", "asset").filter(
            venue__code__in={w[0] for w in wanted},
            asset__symbol__in={w[1] for w in wanted},
        )
    }
    errors: list[str] = []
    rows: list[BalanceInput] = []
    for i, r in enumerate(records):
        row_no = i + 2
        key = (
            str(r["venue"]).strip().upper(),
            str(r["asset"]).strip().upper(),
            str(r["purpose"]).strip().lower(),
        )
        acct = accounts.get(key)
        if acct is None:
            errors.append(f"Row {row_no}: no treasury account {key[0]}/{key[1]}/{key[2]}.")
            continue
        text = str(r["amount"]).strip()
        try:
            if not _NUMBER.fullmatch(text):
                raise InvalidOperation
            amount = Decimal(text)
        except InvalidOperation:
            errors.append(f"Row {row_no}: amount {str(r['amount'])[:40]!r} is not a number.")
            continue
        try:
            as_of = _parse_time(str(r["as_of"]))
        except (ValueError, OverflowError):
            errors.append(f"Row {row_no}: as_of {str(r['as_of'])[:40]!r} is not an ISO 8601 time.")
            continue
        label = f"Row {row_no}"
        try:
            if not acct.is_active:
                raise InvalidInput(
                    "the account is inactive: it takes no balances.", field="account"
                )
            _check_amount(amount, acct.asset, "amount")
            _check_as_of(as_of, now)
        except InvalidInput as exc:
            errors.append(f"{label}: {exc.field}: {exc.message}")
            continue
        rows.append(BalanceInput(acct, amount, as_of, label=label))
        if len(errors) >= MAX_ROW_ERRORS:
            break
    if errors:
        raise InvalidInput(errors[0], errors={"file": errors[:MAX_ROW_ERRORS]})
    try:
        return balances_record(actor=actor, rows=rows, now=now, source="import")
    except InvalidInput as exc:
        # The row label is the field prefix ("Row 4.amount"); say it as a sentence.
        field = (exc.field or "").replace(".", ": ", 1)
        message = f"{field}: {exc.message}" if field else exc.message
        raise InvalidInput(message, errors={"file": [message]}) from None
