from django.apps import AppConfig


class LoansConfig(AppConfig):
    name = "loans"
    label = "loans"
    verbose_name = "Loan book"

    def ready(self) -> None:
        # Registers approval actions, jobs, navigation and tiles.
        from loans import approvals, jobs, ui  # noqa: F401
