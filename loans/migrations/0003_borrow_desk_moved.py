"""The borrow desk's models now belong to the `desk` app (loans/desk/): the loan book forgets
them. State only: the tables stay where they are (desk 0001 took them over)."""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ("loans", "0002_borrow_desk"),
        ("desk", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
                migrations.DeleteModel(name="BorrowRequestEvent"),
                migrations.DeleteModel(name="Allocation"),
                migrations.DeleteModel(name="AssetInventory"),
                migrations.DeleteModel(name="BorrowRequest"),
            ],
        ),
    ]
