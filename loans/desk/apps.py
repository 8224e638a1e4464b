from django.apps import AppConfig


class DeskConfig(AppConfig):
    name = "loans.desk"
    label = "desk"
    verbose_name = "Borrow desk"

    def ready(self) -> None:
        # Registers jobs, alert kinds, navigation and tiles, and tells the loan book to call
        # the desk back when a loan booked from a request is refused (loans/hooks.py).
        from loans import hooks
        from loans.desk import jobs, services, ui  # noqa: F401

        hooks.register_loan_refused(services.borrow_request_loan_refused)
