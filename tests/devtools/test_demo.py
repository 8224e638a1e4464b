"""The demo book (devtools.demo, `seed_demo`): a second run writes nothing, and the demo
treasury has today's figures and two weeks of history."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from io import StringIO

import pandas  # noqa: F401  (imported before freezegun patches the clock: it crashes under it)
import pytest
from django.apps import apps
from django.core.management import call_command
from freezegun import freeze_time

from devtools.demo.refdata import seed_refdata
from devtools.demo.treasury import seed_treasury
from financing.accounts.models import User
from financing.accounts.roles import Role
from financing.refdata.models import Asset, Counterparty
from treasury import selectors
from treasury.models import BalanceSnapshot, BufferLevel, TreasuryAccount

D = Decimal
NOW = datetime(2026, 11, 21, 9, 30, tzinfo=UTC)
pytestmark = pytest.mark.django_db


def _all_counts() -> dict[str, int]:
    return {
        m._meta.label: m.objects.count()
        for m in apps.get_models()
        if m._meta.app_label not in {"sessions", "axes", "admin"}
    }


def test_seed_demo_twice_creates_nothing_the_second_time():
    call_command("seed_demo", stdout=StringIO())
    first = _all_counts()

    call_command("seed_demo", stdout=StringIO())

    assert first["accounts.User"] >= len(Role.values)
    assert first["refdata.Asset"] > 0 and first["refdata.Counterparty"] > 0
    assert Counterparty.objects.filter(kyc_status="approved").exists()
    assert _all_counts() == first
    assert set(User.objects.values_list("role", flat=True)) == set(Role.values)


@freeze_time(NOW)
def test_demo_seeds_inventory_history_and_is_idempotent():
    now = NOW
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
