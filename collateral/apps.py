from django.apps import AppConfig


class CollateralConfig(AppConfig):
    name = "collateral"
    label = "collateral"
    verbose_name = "Collateral and margin"

    def ready(self) -> None:
        # Registers approval actions, jobs, alert kinds, navigation and tiles.
        from collateral import alerts, approvals, jobs, limits, ui  # noqa: F401
