from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "financing.api"
    label = "api"
    verbose_name = "API"

    def ready(self) -> None:
        from financing.api import ui  # noqa: F401
