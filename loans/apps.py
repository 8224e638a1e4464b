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
            desk_jobs,
            desk_ui,
            hooks,
            jobs,
            ui,
        )
        from loans.desk import borrow_request_loan_refused

        # The borrow desk hears of refused bookings (it registers itself once it is its own app).
        hooks.register_loan_refused(borrow_request_loan_refused)
