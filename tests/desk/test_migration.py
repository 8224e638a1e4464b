"""The borrow desk moved from the loan book (app `loans`) to its own app (`desk`) with
state-only migrations: a database made before the move keeps every row."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = [("loans", "0002_borrow_desk"), ("desk", None)]
NOW = datetime(2026, 11, 21, 9, 30, tzinfo=UTC)


def _migrate(targets):
    MigrationExecutor(connection).migrate(targets)
    # The models as the database now stands (every applied migration).
    return MigrationExecutor(connection)._create_project_state(with_applied_migrations=True).apps


@pytest.mark.django_db(transaction=True)
def test_an_old_schema_database_migrates_without_losing_a_row():
    from django.contrib.contenttypes.models import ContentType

    latest = MigrationExecutor(connection).loader.graph.leaf_nodes()
    old = _migrate(BEFORE)
    try:
        User = old.get_model("accounts", "User")
        Asset = old.get_model("refdata", "Asset")
        Desk = old.get_model("refdata", "Desk")
        OldRequest = old.get_model("loans", "BorrowRequest")
        OldAllocation = old.get_model("loans", "Allocation")
        OldEvent = old.get_model("loans", "BorrowRequestEvent")
        OldInventory = old.get_model("loans", "AssetInventory")
        OldContentType = old.get_model("contenttypes", "ContentType")
        OldContentType.objects.get_or_create(app_label="loans", model="borrowrequest")
        user = User.objects.create(username="old-trader", role="ops")
        asset = Asset.objects.create(symbol="OLDBTC", name="Bitcoin", decimals=8)
        desk = Desk.objects.create(code="OLDDESK", name="Old desk", risk_profile="low")
        request = OldRequest.objects.create(
            desk=desk,
            requested_by=user,
            asset=asset,
            quantity=Decimal("2.5"),
            max_rate=Decimal("0.08"),
            needed_by=NOW,
            urgency="high",
            expected_revenue_usd=Decimal("1000"),
            purpose="before the move",
            status="partially_allocated",
            priority=Decimal("51.20"),
            sla_due_at=NOW,
            allocated_quantity=Decimal("1.25"),
            created_at=NOW,
            updated_at=NOW,
        )
        OldAllocation.objects.create(
            request=request, asset=asset, quantity=Decimal("1.25"), created_by=user, created_at=NOW
        )
        OldEvent.objects.create(request=request, kind="allocated", at=NOW, to_status="allocated")
        OldInventory.objects.create(asset=asset, locked_at=NOW)
    finally:
        _migrate(latest)

    from loans.desk.models import Allocation, AssetInventory, BorrowRequest, BorrowRequestEvent

    moved = BorrowRequest.objects.get(purpose="before the move")
    assert (moved.quantity, moved.allocated_quantity, moved.status) == (
        Decimal("2.5"),
        Decimal("1.25"),
        "partially_allocated",
    )
    assert moved.desk.code == "OLDDESK" and moved.requested_by.username == "old-trader"
    assert list(Allocation.objects.filter(request=moved).values_list("quantity", flat=True)) == [
        Decimal("1.250000000000000000")
    ]
    assert BorrowRequestEvent.objects.filter(request=moved, kind="allocated").exists()
    assert AssetInventory.objects.filter(asset__symbol="OLDBTC").exists()
    assert BorrowRequest._meta.db_table == "loans_borrowrequest"
    # The content type followed the model, so permissions attached to it stay attached.
    assert ContentType.objects.filter(app_label="desk", model="borrowrequest").exists()
    assert not ContentType.objects.filter(app_label="loans", model="borrowrequest").exists()
