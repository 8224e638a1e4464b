from django.apps import AppConfig


class DashboardConfig(AppConfig):
    name = "financing.dashboard"
    label = "dashboard"
    verbose_name = "Dashboard"

    def ready(self) -> None:
        from financing.dashboard import ui  # noqa: F401
