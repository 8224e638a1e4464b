"""Lendable inventory per asset, the latest balance per account, and the daily history."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from tests.factories import AssetFactory
from treasury import selectors, services

D = Decimal
pytestmark = pytest.mark.django_db


def _at(day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC)


@pytest.fixture
def book(account, balance, treasurer, cust, cust2, exch, btc, usdc, now):
    """BTC: two valued lendable accounts (150 latest + 50.5) and one never valued: lendable
    200.5 from 3 accounts; the buffer (999) and operational (7, 3) accounts do not count.
    Buffers: BTC 10 across venues + 5 at CUST1; USDC 2,000,000 with no lendable account."""
    a1 = account(cust, btc)
    balance(a1, "100", _at(19))
    balance(a1, "150", _at(20))
    a2 = account(cust2, btc)
    balance(a2, "50.5", _at(20, 12))
    account(exch, btc)  # no balance yet
    ops_acct = account(exch, btc, purpose="operational")
    balance(ops_acct, "7", _at(20))
    buffer_acct = account(cust, btc, purpose="buffer")
    balance(buffer_acct, "999", _at(20))
    ops2 = account(cust2, btc, purpose="operational")
    balance(ops2, "3", _at(20))
    services.buffer_level_set(actor=treasurer, asset=btc, minimum=D("10"), now=now)
    services.buffer_level_set(actor=treasurer, asset=btc, venue=cust, minimum=D("5"), now=now)
    services.buffer_level_set(actor=treasurer, asset=usdc, minimum=D("2000000"), now=now)
    return {"a1": a1, "a2": a2}


def test_lendable_by_asset_sums_latest_balances_of_active_lendable_accounts(
    book, btc, usdc, django_assert_num_queries
):
    with django_assert_num_queries(1):
        figures = selectors.lendable_by_asset()
    assert figures == {
        btc.pk: {"lendable": D("200.5"), "buffer": D("15"), "accounts": 3},
        usdc.pk: {"lendable": D("0"), "buffer": D("2000000"), "accounts": 0},
    }


def test_inactive_lendable_accounts_are_excluded(book, treasurer, btc, now):
    services.treasury_account_update(actor=treasurer, account=book["a1"], now=now, is_active=False)
    assert selectors.lendable_by_asset()[btc.pk] == {
        "lendable": D("50.5"),
        "buffer": D("15"),
        "accounts": 2,
    }


def test_latest_snapshot_is_by_time_not_by_arrival(account, balance, cust, btc):
    a = account(cust, btc)
    balance(a, "30", _at(21, 9))
    balance(a, "10", _at(20, 9))  # a late-arriving older balance does not win
    assert selectors.lendable_by_asset()[btc.pk]["lendable"] == D("30")
    balance(a, "20", _at(21, 9, 15))
    assert selectors.lendable_by_asset()[btc.pk]["lendable"] == D("20")


def test_lendable_by_asset_can_be_limited_to_assets(book, btc, usdc):
    assert set(selectors.lendable_by_asset(asset_ids=[usdc.pk])) == {usdc.pk}
    assert selectors.lendable_by_asset(asset_ids=[]) == {}
    assert selectors.lendable_by_asset(asset_ids=[AssetFactory(symbol="SOL").pk]) == {}


def test_balances_latest_annotates_every_account_in_one_query(
    book, cust, django_assert_num_queries
):
    with django_assert_num_queries(1):
        rows = list(selectors.balances_latest())
    a1 = next(r for r in rows if r.pk == book["a1"].pk)
    assert (a1.balance, a1.balance_as_of, a1.balance_source) == (D("150"), _at(20), "api")
    never = next(r for r in rows if r.venue.code == "EXCH1" and r.purpose == "lendable")
    assert never.balance is None and never.balance_as_of is None
    assert [r.pk for r in selectors.balances_latest(venue="cust1", purpose="lendable")] == [
        book["a1"].pk
    ]


def test_lendable_history_is_the_end_of_day_total_per_asset(
    account, balance, cust, cust2, btc, now, django_assert_num_queries
):
    a1, a2 = account(cust, btc), account(cust2, btc)
    balance(a1, "100", _at(18, 12))
    balance(a1, "110", _at(19, 23, 59))  # counts for the 19th
    balance(a1, "120", _at(20, 0, 0))  # counts for the 20th, not the 19th
    balance(a2, "5", _at(20, 8))
    balance(a2, "6", _at(21, 9))
    with django_assert_num_queries(1):
        h = selectors.lendable_history(days=5, now=now)
    assert h["days"] == [date(2026, 11, d) for d in range(17, 22)]
    assert h["assets"] == {"BTC": [D(0), D(100), D(110), D(125), D(126)]}


def test_lendable_history_ignores_other_purposes_and_clamps_days(account, balance, cust, btc, now):
    balance(account(cust, btc, purpose="buffer"), "9", now - timedelta(days=1))
    h = selectors.lendable_history(days=0, now=now)
    assert h == {"days": [date(2026, 11, 21)], "assets": {}}
    assert len(selectors.lendable_history(days=10_000, now=now)["days"]) == 366
