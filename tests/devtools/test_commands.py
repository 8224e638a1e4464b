"""The devtools commands a person runs by hand: `seed_synthetic` books a synthetic book as the
services would leave it, `price_tick` records a moved price per priced asset."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from collateral.models import PriceSnapshot
from collateral.services import PriceInput, prices_record
from financing import clock
from loans.models import Loan, LoanBalance, LoanTerms
from tests.factories import AssetFactory

pytestmark = pytest.mark.django_db


def test_seed_synthetic_books_active_loans_with_their_terms_and_balances():
    out = StringIO()
    call_command("seed_synthetic", "--loans", "40", "--counterparties", "5", stdout=out)

    loans = Loan.objects.filter(external_ref__startswith="SYN-")
    assert loans.count() == 40 and set(loans.values_list("status", flat=True)) == {"active"}
    assert LoanBalance.objects.filter(loan__in=loans).count() == 40
    assert LoanTerms.objects.filter(loan__in=loans, valid_to__isnull=True).count() == 40
    assert out.getvalue().startswith("seeded 40 synthetic loans")


def test_seed_synthetic_refuses_a_bad_start_date():
    with pytest.raises(CommandError, match="is not a date"):
        call_command("seed_synthetic", "--loans", "1", "--start", "soon", stdout=StringIO())


def test_price_tick_moves_the_named_asset_and_keeps_the_others():
    now = clock.now() - timedelta(minutes=1)
    btc, eth = AssetFactory(symbol="BTC"), AssetFactory(symbol="ETH")
    prices_record(
        rows=[
            PriceInput(btc, Decimal("100000"), now, "feed"),
            PriceInput(eth, Decimal("4000"), now, "feed"),
        ],
        now=now,
    )
    out = StringIO()
    call_command("price_tick", "BTC=-0.05", stdout=out)

    ticked = dict(
        PriceSnapshot.objects.filter(source="demo").values_list("asset__symbol", "price_usd")
    )
    assert ticked == {"BTC": Decimal("95000"), "ETH": Decimal("4000")}
    assert out.getvalue().strip() == "2 prices recorded"


def test_price_tick_refuses_a_move_that_is_not_a_fraction():
    with pytest.raises(CommandError, match="SYMBOL=FRACTION"):
        call_command("price_tick", "BTC=lots", stdout=StringIO())
