from django.apps import AppConfig


class ApprovalsConfig(AppConfig):
    name = "financing.approvals"
    label = "approvals"
    verbose_name = "Approvals (maker-checker)"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from financing.approvals import ui  # noqa: F401
        from financing.approvals.services import approval_policies_sync

        post_migrate.connect(_sync_policies, sender=self, dispatch_uid="approvals-sync")
        self._sync = approval_policies_sync


def _sync_policies(sender, **kwargs) -> None:
    from financing.approvals.services import approval_policies_sync

    approval_policies_sync()
