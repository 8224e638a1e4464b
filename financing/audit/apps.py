from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "financing.audit"
    label = "audit"
    verbose_name = "Audit trail"

    def ready(self) -> None:
        from financing.audit import signals, ui  # noqa: F401
