"""Treasury services: accounts, balances (one, many, a CSV or XLSX file) and buffers."""

from __future__ import annotations

import io
from datetime import datetime, timedelta
from decimal import Decimal

import pandas as pd
import pytest

from financing.errors import Conflict, Forbidden, InvalidInput
from tests.conftest import NOW
from tests.factories import UserFactory
from treasury import services
from treasury.models import BalanceSnapshot, BufferLevel, TreasuryAccount
from treasury.services import imports

D = Decimal
pytestmark = pytest.mark.django_db


# ---------------------------------------------------------------- accounts


def test_account_is_opened_once_per_venue_asset_and_purpose(account, cust, btc):
    a = account(cust, btc, name="  Main BTC  ")
    assert (a.venue, a.asset, a.purpose, a.name, a.is_active) == (
        cust,
        btc,
        "lendable",
        "Main BTC",
        True,
    )
    with pytest.raises(Conflict):
        account(cust, btc)
    account(cust, btc, purpose="buffer")
    assert TreasuryAccount.objects.count() == 2
    assert a.history.count() == 1


@pytest.mark.parametrize("role", ["ops", "risk", "compliance", "trading", "auditor"])
def test_only_treasury_and_admin_may_open_accounts(role, cust, btc, now):
    with pytest.raises(Forbidden):
        services.treasury_account_create(
            actor=UserFactory(role=role), venue=cust, asset=btc, purpose="lendable", now=now
        )
    assert not TreasuryAccount.objects.exists()


def test_unknown_purpose_and_long_name_are_refused(account, cust, btc):
    with pytest.raises(InvalidInput) as e:
        account(cust, btc, purpose="trading")
    assert e.value.field == "purpose"
    with pytest.raises(InvalidInput) as e:
        account(cust, btc, name="x" * 101)
    assert e.value.field == "name"
    assert not TreasuryAccount.objects.exists()


def test_account_update_renames_and_deactivates_with_history(account, treasurer, cust, btc, now):
    a = account(cust, btc)
    a = services.treasury_account_update(
        actor=treasurer, account=a, now=now, name="Cold", is_active=False
    )
    assert (a.name, a.is_active) == ("Cold", False)
    assert a.history.first().history_change_reason == "treasury account renamed, deactivated"
    with pytest.raises(Forbidden):
        services.treasury_account_update(
            actor=UserFactory(role="ops"), account=a, now=now, is_active=True
        )
    a.refresh_from_db()
    assert a.is_active is False


# ---------------------------------------------------------------- balances


def test_balance_keeps_exact_decimals(account, balance, cust, btc):
    a = account(cust, btc)
    s = balance(a, "0.12345678")
    assert s.amount == D("0.12345678") and s.source == "api" and s.received_at == NOW


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        ("0.123456789", "8 decimals"),
        ("-1", "negative"),
        ("1000000000000001", "Implausibly large"),
    ],
)
def test_bad_amounts_are_refused_and_nothing_is_stored(
    account, balance, cust, btc, amount, message
):
    a = account(cust, btc)
    with pytest.raises(InvalidInput) as e:
        balance(a, amount)
    assert e.value.field == "amount" and message in e.value.message
    assert not BalanceSnapshot.objects.exists()


def test_balance_time_must_be_aware_and_not_in_the_future(account, balance, cust, btc, now):
    a = account(cust, btc)
    balance(a, "1", as_of=now + timedelta(minutes=2))  # clock skew is tolerated
    with pytest.raises(InvalidInput, match="future"):
        balance(a, "1", as_of=now + timedelta(minutes=3))
    with pytest.raises(InvalidInput, match="offset"):
        balance(a, "1", as_of=datetime(2026, 11, 20, 12, 0))
    assert BalanceSnapshot.objects.count() == 1


def test_inactive_account_takes_no_balance(account, balance, treasurer, cust, btc, now):
    a = account(cust, btc)
    services.treasury_account_update(actor=treasurer, account=a, now=now, is_active=False)
    a.refresh_from_db()
    with pytest.raises(InvalidInput, match="inactive"):
        balance(a, "1")
    assert not BalanceSnapshot.objects.exists()


def test_same_snapshot_twice_is_stored_once_and_another_amount_is_refused(
    account, balance, cust, btc, now
):
    a = account(cust, btc)
    first = balance(a, "10")
    assert balance(a, "10.00").pk == first.pk
    with pytest.raises(InvalidInput, match="never changed"):
        balance(a, "11")
    assert list(BalanceSnapshot.objects.values_list("amount", flat=True)) == [D("10")]


def test_a_list_is_all_or_nothing(account, treasurer, cust, btc, now):
    a = account(cust, btc)
    rows = [
        services.BalanceInput(a, D("1"), now - timedelta(hours=2), "0"),
        services.BalanceInput(a, D("1.000000001"), now - timedelta(hours=1), "1"),
    ]
    with pytest.raises(InvalidInput) as e:
        services.balances_record(actor=treasurer, rows=rows, now=now)
    assert e.value.field == "1.amount"
    assert not BalanceSnapshot.objects.exists()


# ---------------------------------------------------------------- imports


def _csv(*lines: str) -> bytes:
    return ("venue,asset,purpose,amount,as_of\n" + "\n".join(lines) + "\n").encode()


@pytest.fixture
def two_accounts(account, cust, btc, usdc):
    return account(cust, btc), account(cust, usdc)


def test_csv_import_stores_exact_decimals_and_counts_duplicates(treasurer, two_accounts, now):
    body = _csv(
        "CUST1,BTC,lendable,0.12345678,2026-11-20T00:00:00Z",
        "cust1,btc,LENDABLE,123456789.00000001,2026-11-21T00:00:00+00:00",
        "CUST1,USDC,lendable,60000000.123456,2026-11-21 00:00:00",
    )
    result = services.balances_import(actor=treasurer, data=body, filename="b.csv", now=now)
    assert result == {"stored": 3, "duplicates": 0}
    amounts = sorted(BalanceSnapshot.objects.values_list("amount", flat=True))
    assert amounts == [D("0.12345678"), D("60000000.123456"), D("123456789.00000001")]
    assert set(BalanceSnapshot.objects.values_list("source", flat=True)) == {"import"}
    again = services.balances_import(actor=treasurer, data=body, filename="b.csv", now=now)
    assert again == {"stored": 0, "duplicates": 3}
    assert BalanceSnapshot.objects.count() == 3


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (
            "CUST1,BTC,lendable,0.123456789,2026-11-20T00:00:00Z",
            "Row 3: amount: BTC has 8 decimals",
        ),
        ("CUST1,BTC,lendable,1e3x,2026-11-20T00:00:00Z", "Row 3: amount '1e3x' is not a number"),
        ("CUST1,BTC,lendable,NaN,2026-11-20T00:00:00Z", "Row 3: amount 'NaN' is not a number"),
        ("CUST1,BTC,lendable,-5,2026-11-20T00:00:00Z", "Row 3: amount: Must not be negative"),
        ("CUST1,BTC,lendable,5,yesterday", "Row 3: as_of 'yesterday' is not an ISO 8601 time"),
        ("CUST1,BTC,lendable,5,2027-01-01T00:00:00Z", "Row 3: as_of: In the future"),
        (
            "CUST9,BTC,lendable,5,2026-11-20T00:00:00Z",
            "Row 3: no treasury account CUST9/BTC/lendable",
        ),
        ("CUST1,BTC,buffer,5,2026-11-20T00:00:00Z", "Row 3: no treasury account CUST1/BTC/buffer"),
        ("CUST1,BTC,lendable,,2026-11-20T00:00:00Z", "Row 3: amount '' is not a number"),
    ],
)
def test_one_bad_row_stores_nothing_and_names_the_row(treasurer, two_accounts, now, line, expected):
    body = _csv("CUST1,USDC,lendable,1.5,2026-11-20T00:00:00Z", line)
    with pytest.raises(InvalidInput) as e:
        services.balances_import(actor=treasurer, data=body, filename="b.csv", now=now)
    assert expected in e.value.errors["file"][0], e.value.errors
    assert not BalanceSnapshot.objects.exists()


def test_conflicting_rows_in_one_file_are_refused(treasurer, two_accounts, now):
    body = _csv(
        "CUST1,BTC,lendable,1,2026-11-20T00:00:00Z",
        "CUST1,BTC,lendable,2,2026-11-20T00:00:00Z",
    )
    with pytest.raises(InvalidInput) as e:
        services.balances_import(actor=treasurer, data=body, filename="b.csv", now=now)
    assert "Row 3" in e.value.errors["file"][0]
    assert not BalanceSnapshot.objects.exists()


@pytest.mark.parametrize(
    ("data", "filename", "message"),
    [
        (b"", "b.csv", "empty"),
        (b"venue,asset,amount\nX,Y,1\n", "b.csv", "missing purpose, as_of"),
        (b"venue,asset,purpose,amount,as_of,extra\n", "b.csv", "unknown extra"),
        (b"venue,asset,purpose,amount,as_of\n", "b.csv", "no rows"),
        (b"not a zip", "b.xlsx", "Not a readable XLSX"),
        (b"\xff\xfe\x00garbage\x00", "b.csv", "Not a readable CSV"),
        (b"a,b\n", "b.json", ".csv or .xlsx"),
    ],
)
def test_unreadable_files_are_refused(treasurer, two_accounts, now, data, filename, message):
    with pytest.raises(InvalidInput) as e:
        services.balances_import(actor=treasurer, data=data, filename=filename, now=now)
    assert message in e.value.message
    assert e.value.field == "file" or "file" in e.value.errors


def test_too_many_rows_are_refused(treasurer, two_accounts, now, monkeypatch):
    monkeypatch.setattr(imports, "MAX_IMPORT_ROWS", 2)
    body = _csv(*[f"CUST1,BTC,lendable,1,2026-11-20T0{i}:00:00Z" for i in range(3)])
    with pytest.raises(InvalidInput, match="At most 2 rows"):
        services.balances_import(actor=treasurer, data=body, filename="b.csv", now=now)


def _xlsx(frame: pd.DataFrame) -> bytes:
    buf = io.BytesIO()
    frame.to_excel(buf, index=False, engine="openpyxl")
    return buf.getvalue()


def test_xlsx_import_keeps_text_cells_exact(treasurer, two_accounts, now):
    frame = pd.DataFrame(
        [
            ["CUST1", "BTC", "lendable", "20999999.99999999", "2026-11-20T00:00:00Z"],
            ["CUST1", "USDC", "lendable", "0.000001", "2026-11-20T00:00:00Z"],
        ],
        columns=["venue", "asset", "purpose", "amount", "as_of"],
    )
    result = services.balances_import(
        actor=treasurer, data=_xlsx(frame), filename="BALANCES.XLSX", now=now
    )
    assert result == {"stored": 2, "duplicates": 0}
    assert sorted(BalanceSnapshot.objects.values_list("amount", flat=True)) == [
        D("0.000001"),
        D("20999999.99999999"),
    ]


def test_xlsx_number_and_date_cells_are_read(treasurer, two_accounts, now):
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.append(["venue", "asset", "purpose", "amount", "as_of"])
    sheet.append(["CUST1", "BTC", "lendable", 900, datetime(2026, 11, 20, 0, 0)])
    buf = io.BytesIO()
    book.save(buf)
    services.balances_import(actor=treasurer, data=buf.getvalue(), filename="b.xlsx", now=now)
    snap = BalanceSnapshot.objects.get()
    assert snap.amount == D("900")
    assert snap.as_of.isoformat() == "2026-11-20T00:00:00+00:00"


def test_xlsx_bad_row_names_the_row(treasurer, two_accounts, now):
    frame = pd.DataFrame(
        [
            ["CUST1", "BTC", "lendable", "1", "2026-11-20T00:00:00Z"],
            ["CUST1", "BTC", "lendable", "1", "2026-11-20T01:00:00Z"],
            ["CUST1", "USDC", "lendable", "0.0000001", "2026-11-20T00:00:00Z"],
        ],
        columns=["venue", "asset", "purpose", "amount", "as_of"],
    )
    with pytest.raises(InvalidInput) as e:
        services.balances_import(actor=treasurer, data=_xlsx(frame), filename="b.xlsx", now=now)
    assert e.value.errors["file"][0].startswith("Row 4: amount: USDC has 6 decimals")
    assert not BalanceSnapshot.objects.exists()


def test_import_needs_treasury_manage(two_accounts, now):
    body = _csv("CUST1,BTC,lendable,1,2026-11-20T00:00:00Z")
    with pytest.raises(Forbidden):
        services.balances_import(
            actor=UserFactory(role="ops"), data=body, filename="b.csv", now=now
        )
    assert not BalanceSnapshot.objects.exists()


# ---------------------------------------------------------------- buffers


def test_buffer_is_set_per_scope_and_replaced_not_duplicated(treasurer, btc, cust, now):
    services.buffer_level_set(actor=treasurer, asset=btc, minimum=D("50"), now=now)
    services.buffer_level_set(actor=treasurer, asset=btc, minimum=D("40"), now=now)
    services.buffer_level_set(actor=treasurer, asset=btc, venue=cust, minimum=D("5"), now=now)
    levels = {(b.venue_id, b.minimum) for b in BufferLevel.objects.all()}
    assert levels == {(None, D("40")), (cust.pk, D("5"))}


@pytest.mark.parametrize("minimum", ["-1", "0.000000001", "1e16"])
def test_bad_buffer_is_refused(treasurer, btc, now, minimum):
    with pytest.raises(InvalidInput):
        services.buffer_level_set(actor=treasurer, asset=btc, minimum=D(minimum), now=now)
    assert not BufferLevel.objects.exists()


def test_buffer_needs_treasury_manage(btc, now):
    with pytest.raises(Forbidden):
        services.buffer_level_set(
            actor=UserFactory(role="risk"), asset=btc, minimum=D("1"), now=now
        )
