"""A decision row carries the request's maker, and the database proves it: (request_id,
maker_id) references (id, maker_id) of the request. With the `maker_never_checks` check
constraint this makes self-approval impossible even for code that bypasses the service."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("approvals", "0001_initial")]

    operations = [
        migrations.RunSQL(
            sql="""
            ALTER TABLE approvals_approvaldecision
              ADD CONSTRAINT approvaldecision_maker_is_request_maker
              FOREIGN KEY (request_id, maker_id)
              REFERENCES approvals_approvalrequest (id, maker_id)
              DEFERRABLE INITIALLY DEFERRED;
            """,
            reverse_sql="""
            ALTER TABLE approvals_approvaldecision
              DROP CONSTRAINT approvaldecision_maker_is_request_maker;
            """,
        )
    ]
