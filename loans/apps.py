from django.apps import AppConfig


class LoansConfig(AppConfig):
    name = "loans"
    label = "loans"
    verbose_name = "Loan book"

    def ready(self) -> None:
        # Registers approval actions, jobs, navigation, tiles and demo seeders.
        from loans import (  # noqa: F401
            approvals,
            bench,
            demo,
            desk_bench,
            desk_demo,
            jobs,
            ui,
        )
