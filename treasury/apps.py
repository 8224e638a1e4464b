from django.apps import AppConfig


class TreasuryConfig(AppConfig):
    name = "treasury"
    label = "treasury"
    verbose_name = "Treasury"

    def ready(self) -> None:
        # Registers navigation, the home tile and the demo seeder.
        from treasury import demo, ui  # noqa: F401
