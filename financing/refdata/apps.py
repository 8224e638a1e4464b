from django.apps import AppConfig


class RefdataConfig(AppConfig):
    name = "financing.refdata"
    label = "refdata"
    verbose_name = "Reference data"

    def ready(self) -> None:
        from financing.accounts.hooks import register_desk_source
        from financing.refdata import approvals, jobs, ui  # noqa: F401  (registrations)
        from financing.refdata.services import desk_get_or_create

        register_desk_source(desk_get_or_create)
