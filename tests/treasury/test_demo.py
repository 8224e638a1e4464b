"""The demo treasury: today's figures, two weeks of history, and a second run writes nothing."""

from __future__ import annotations

from decimal import Decimal

import pytest

from financing.refdata.demo import seed_refdata
from financing.refdata.models import Asset
from treasury import selectors
from treasury.demo import seed_treasury
from treasury.models import BalanceSnapshot, BufferLevel, TreasuryAccount

D = Decimal
pytestmark = pytest.mark.django_db


def test_demo_seeds_inventory_history_and_is_idempotent(now):
    seed_refdata(now=now)
    seed_treasury(now=now)
    counts = (
        TreasuryAccount.objects.count(),
        BalanceSnapshot.objects.count(),
        BufferLevel.objects.count(),
    )
    assert seed_treasury(now=now) == "0 accounts opened, 0 balances stored, 0 buffers set"
    assert counts == (
        TreasuryAccount.objects.count(),
        BalanceSnapshot.objects.count(),
        BufferLevel.objects.count(),
    )
    symbols = dict(Asset.objects.values_list("pk", "symbol"))
    figures = {symbols[k]: v for k, v in selectors.lendable_by_asset().items()}
    assert figures["BTC"] == {"lendable": D("900"), "buffer": D("50"), "accounts": 2}
    assert figures["USDC"]["lendable"] == D("60000000")
    assert figures["SOL"]["lendable"] == D("400000")
    history = selectors.lendable_history(days=15, now=now)["assets"]["BTC"]
    assert len(set(history)) > 3 and history[-1] == D("900")
