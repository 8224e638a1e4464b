from django.apps import AppConfig


class TreasuryConfig(AppConfig):
    name = "treasury"
    label = "treasury"
    verbose_name = "Treasury"

    def ready(self) -> None:
        # Registers navigation and the home tile.
        from treasury import ui  # noqa: F401
