from django.apps import AppConfig


class RefdataConfig(AppConfig):
    name = "financing.refdata"
    label = "refdata"
    verbose_name = "Reference data"

    def ready(self) -> None:
        from financing.refdata import approvals  # noqa: F401  (registers approval actions)
