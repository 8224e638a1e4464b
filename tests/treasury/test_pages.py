"""Treasury pages: render for staff in a bounded number of queries, export what they show,
and their forms call the same services as the API."""

from __future__ import annotations

import io
from decimal import Decimal

import pandas as pd
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from tests.factories import UserFactory, VenueFactory
from treasury import services
from treasury.models import BalanceSnapshot, BufferLevel, TreasuryAccount

D = Decimal
pytestmark = pytest.mark.django_db
PAGES = ["treasury:accounts", "treasury:balances", "treasury:buffers"]


@pytest.fixture
def world(account, balance, treasurer, cust, btc, usdc, now):
    a = account(cust, btc, name="Main BTC")
    balance(a, "900.5")
    balance(account(cust, usdc), "60000000")
    services.buffer_level_set(actor=treasurer, asset=btc, minimum=D("1000"), now=now)
    return a


@pytest.mark.parametrize(
    "role", ["ops", "risk", "treasury", "compliance", "auditor", "admin", "trading"]
)
def test_pages_render_for_staff_and_refuse_trading(page, world, role):
    client = page(UserFactory(role=role, username=f"p-{role}"))
    for name in PAGES:
        r = client.get(reverse(name))
        assert r.status_code == (403 if role == "trading" else 200), (name, r.status_code)
        if role != "trading":
            manage = 'data-testid="buffer-form"' in r.content.decode()
            assert manage is (role in ("treasury", "admin")) or name == "treasury:balances"


def test_accounts_page_shows_balances_inventory_and_chart(page, treasurer, world):
    html = page(treasurer).get(reverse("treasury:accounts")).content.decode()
    assert "900.5 BTC" in html and "60000000 USDC" in html
    assert "2026-11-21 09:30:00 UTC" in html and "0 min" in html
    assert 'data-testid="inventory-table"' in html
    assert '<span class="badge badge-bad">-99.5</span>' in html  # BTC below its buffer
    assert 'id="inventory-chart-data"' in html and '"900.5"' in html
    for form in ("account-form", "balance-form", "import-form", "buffer-form"):
        assert f'data-testid="{form}"' in html


def test_filters_keep_the_matching_accounts(page, treasurer, world):
    client = page(treasurer)
    html = client.get(reverse("treasury:accounts") + "?asset=USDC").content.decode()
    assert "60000000 USDC" in html and "900.5 BTC" not in html
    html = client.get(reverse("treasury:accounts") + "?purpose=nope").content.decode()
    assert "Nothing matches these filters." in html


def test_pages_run_a_bounded_number_of_queries(
    page, treasurer, world, account, balance, btc, django_assert_max_num_queries
):
    client = page(treasurer)
    counts = {}
    for name in PAGES:
        with django_assert_max_num_queries(25) as ctx:
            assert client.get(reverse(name)).status_code == 200
        counts[name] = len(ctx.captured_queries)
    for i in range(15):
        a = account(VenueFactory(code=f"PV{i}"), btc)
        balance(a, str(i + 1))
    for name in PAGES:
        with django_assert_max_num_queries(counts[name]) as ctx:
            assert client.get(reverse(name)).status_code == 200


@pytest.mark.parametrize("name", PAGES)
def test_exports_hold_the_rows(page, treasurer, world, name):
    client = page(treasurer)
    r = client.get(reverse(name) + "?export=csv")
    assert r.status_code == 200 and r["Content-Type"].startswith("text/csv")
    text = b"".join(r.streaming_content).decode()
    assert "BTC" in text
    r = client.get(reverse(name) + "?export=xlsx")
    frame = pd.read_excel(io.BytesIO(r.content), dtype=str)
    assert "BTC" in frame.iloc[:, 0].tolist()


def test_accounts_export_follows_the_filter(page, treasurer, world):
    r = page(treasurer).get(reverse("treasury:accounts") + "?asset=USDC&export=csv")
    text = b"".join(r.streaming_content).decode()
    assert "60000000 USDC" in text and "900.5 BTC" not in text


def test_forms_call_the_services(page, treasurer, world, cust, btc, usdc):
    client = page(treasurer)
    r = client.post(
        reverse("treasury:account-add"),
        {"acct-venue": "CUST1", "acct-asset": "BTC", "acct-purpose": "operational"},
    )
    assert r.status_code == 302
    op = TreasuryAccount.objects.get(purpose="operational")
    client.post(
        reverse("treasury:balance-record"),
        {"bal-account": op.pk, "bal-amount": "3.5", "bal-as_of": "2026-11-21T09:00"},
    )
    assert BalanceSnapshot.objects.get(account=op).amount == D("3.5")
    csv = b"venue,asset,purpose,amount,as_of\nCUST1,BTC,lendable,901,2026-11-21T09:00:00Z\n"
    client.post(
        reverse("treasury:balance-import"),
        {"imp-file": SimpleUploadedFile("b.csv", csv)},
    )
    assert BalanceSnapshot.objects.filter(amount=D("901"), source="import").count() == 1
    r = client.post(
        reverse("treasury:buffer-set"),
        {
            "buf-asset": "USDC",
            "buf-venue": "CUST1",
            "buf-minimum": "5",
            "next": "/treasury/buffers/",
        },
    )
    assert r["Location"] == reverse("treasury:buffers")
    assert BufferLevel.objects.get(asset=usdc).minimum == D("5")


def test_a_bad_import_shows_the_row_and_stores_nothing(page, treasurer, world):
    client = page(treasurer)
    before = BalanceSnapshot.objects.count()
    csv = b"venue,asset,purpose,amount,as_of\nCUST1,BTC,lendable,x,2026-11-21T09:00:00Z\n"
    r = client.post(
        reverse("treasury:balance-import"),
        {"imp-file": SimpleUploadedFile("b.csv", csv)},
        follow=True,
    )
    assert "Row 2: amount" in r.content.decode()
    assert BalanceSnapshot.objects.count() == before


@pytest.mark.parametrize("role", ["ops", "risk", "auditor", "compliance"])
def test_forms_refuse_roles_without_treasury_manage(page, world, role):
    client = page(UserFactory(role=role, username=f"f-{role}"))
    r = client.post(reverse("treasury:buffer-set"), {"buf-asset": "BTC", "buf-minimum": "1"})
    assert r.status_code == 403
    assert BufferLevel.objects.get().minimum == D("1000")


def test_nav_and_tile_are_registered(page, treasurer, world):
    html = page(treasurer).get("/").content.decode()
    assert reverse("treasury:accounts") in html
    assert "Lendable inventory" in html and "below buffer: BTC" in html
