from django.apps import AppConfig


class LoansConfig(AppConfig):
    name = "loans"
    label = "loans"
    verbose_name = "Loan book"

    def ready(self) -> None:
        # Registers approval actions, jobs, navigation and tiles.
        from loans import approvals, desk_jobs, desk_ui, jobs, ui  # noqa: F401
