"""The borrow desk's models move from the loan book (app `loans`) to their own app (`desk`).

State only: the tables keep their names (Meta.db_table), so migrating a database made before
the move changes no row; the content types follow the models, so permissions stay attached."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

MOVED = ("borrowrequest", "allocation", "assetinventory", "borrowrequestevent")


def content_types_follow(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    ContentType.objects.filter(app_label="loans", model__in=MOVED).update(app_label="desk")


def content_types_return(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    ContentType.objects.filter(app_label="desk", model__in=MOVED).update(app_label="loans")


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ("loans", "0002_borrow_desk"),
        ("refdata", "0003_counterparty_kyc_and_lei_verbose_names"),
        ("contenttypes", "0002_remove_content_type_name"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
                migrations.CreateModel(
                    name='AssetInventory',
                    fields=[
                        ('asset', models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, primary_key=True, related_name='+', serialize=False, to='refdata.asset')),
                        ('locked_at', models.DateTimeField(blank=True, null=True)),
                    ],
                    options={
                        'db_table': 'loans_assetinventory',
                    },
                ),
                migrations.CreateModel(
                    name='BorrowRequest',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('quantity', models.DecimalField(decimal_places=18, max_digits=38)),
                        ('max_rate', models.DecimalField(decimal_places=18, help_text='The highest annual rate the desk accepts (fraction)', max_digits=38)),
                        ('tenor_days', models.PositiveSmallIntegerField(blank=True, help_text='null: open', null=True)),
                        ('needed_by', models.DateTimeField()),
                        ('urgency', models.CharField(choices=[('low', 'Low'), ('normal', 'Normal'), ('high', 'High'), ('critical', 'Critical')], max_length=8)),
                        ('expected_revenue_usd', models.DecimalField(decimal_places=18, max_digits=38)),
                        ('purpose', models.CharField(max_length=500)),
                        ('status', models.CharField(choices=[('submitted', 'Submitted'), ('partially_allocated', 'Partially allocated'), ('allocated', 'Allocated'), ('booked', 'Booked'), ('rejected', 'Rejected'), ('cancelled', 'Cancelled'), ('expired', 'Expired')], default='submitted', max_length=20)),
                        ('priority', models.DecimalField(decimal_places=2, max_digits=6)),
                        ('priority_detail', models.JSONField(default=dict)),
                        ('sla_due_at', models.DateTimeField(help_text='First response due')),
                        ('first_response_at', models.DateTimeField(blank=True, null=True)),
                        ('allocated_quantity', models.DecimalField(decimal_places=18, default=0, max_digits=38)),
                        ('sourced_quantity', models.DecimalField(decimal_places=18, default=0, help_text='Borrowed from an external lender', max_digits=38)),
                        ('decision_reason', models.CharField(blank=True, default='', max_length=500)),
                        ('created_at', models.DateTimeField()),
                        ('updated_at', models.DateTimeField()),
                        ('asset', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='borrow_requests', to='refdata.asset')),
                        ('counterparty', models.ForeignKey(blank=True, help_text="The desk's client the asset goes to (the loan's counterparty)", null=True, on_delete=django.db.models.deletion.PROTECT, related_name='borrow_requests', to='refdata.counterparty')),
                        ('desk', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='borrow_requests', to='refdata.desk')),
                        ('external_loan', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='loans.loan')),
                        ('loan', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='loans.loan')),
                        ('requested_by', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='borrow_requests', to=settings.AUTH_USER_MODEL)),
                    ],
                    options={
                        'db_table': 'loans_borrowrequest',
                        'ordering': ['-priority', 'needed_by', 'id'],
                    },
                ),
                migrations.CreateModel(
                    name='Allocation',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('quantity', models.DecimalField(decimal_places=18, max_digits=38)),
                        ('status', models.CharField(choices=[('active', 'Reserved'), ('booked', 'Booked as a loan'), ('released', 'Released')], default='active', max_length=8)),
                        ('created_at', models.DateTimeField()),
                        ('released_at', models.DateTimeField(blank=True, null=True)),
                        ('asset', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='refdata.asset')),
                        ('created_by', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL)),
                        ('loan', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='loans.loan')),
                        ('request', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='allocations', to='desk.borrowrequest')),
                    ],
                    options={
                        'db_table': 'loans_allocation',
                        'ordering': ['created_at', 'id'],
                    },
                ),
                migrations.CreateModel(
                    name='BorrowRequestEvent',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('kind', models.CharField(max_length=24)),
                        ('from_status', models.CharField(blank=True, default='', max_length=20)),
                        ('to_status', models.CharField(blank=True, default='', max_length=20)),
                        ('at', models.DateTimeField()),
                        ('note', models.TextField(blank=True, default='')),
                        ('data', models.JSONField(blank=True, default=dict)),
                        ('actor', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL)),
                        ('request', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='events', to='desk.borrowrequest')),
                    ],
                    options={
                        'db_table': 'loans_borrowrequestevent',
                        'ordering': ['at', 'id'],
                    },
                ),
                migrations.AddIndex(
                    model_name='borrowrequest',
                    index=models.Index(fields=['desk', '-created_at'], name='borrow_request_desk'),
                ),
                migrations.AddIndex(
                    model_name='borrowrequest',
                    index=models.Index(condition=models.Q(('status__in', ['submitted', 'partially_allocated', 'allocated'])), fields=['-priority', 'needed_by'], name='borrow_request_queue'),
                ),
                migrations.AddConstraint(
                    model_name='borrowrequest',
                    constraint=models.CheckConstraint(condition=models.Q(('quantity__gt', 0)), name='borrow_qty_pos'),
                ),
                migrations.AddConstraint(
                    model_name='borrowrequest',
                    constraint=models.CheckConstraint(condition=models.Q(('allocated_quantity__gte', 0), ('allocated_quantity__lte', models.F('quantity'))), name='borrow_allocated_within_quantity'),
                ),
                migrations.AddConstraint(
                    model_name='borrowrequest',
                    constraint=models.CheckConstraint(condition=models.Q(('status__in', ['submitted', 'partially_allocated', 'allocated', 'booked', 'rejected', 'cancelled', 'expired'])), name='borrow_status_known'),
                ),
                migrations.AddConstraint(
                    model_name='borrowrequest',
                    constraint=models.CheckConstraint(condition=models.Q(('urgency__in', ['low', 'normal', 'high', 'critical'])), name='borrow_urgency_known'),
                ),
                migrations.AddIndex(
                    model_name='allocation',
                    index=models.Index(condition=models.Q(('status', 'released'), _negated=True), fields=['asset'], name='allocation_counted'),
                ),
                migrations.AddConstraint(
                    model_name='allocation',
                    constraint=models.CheckConstraint(condition=models.Q(('quantity__gt', 0)), name='allocation_qty_pos'),
                ),
            ],
        ),
        migrations.RunPython(content_types_follow, content_types_return),
    ]
