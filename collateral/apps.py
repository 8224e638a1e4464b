from django.apps import AppConfig


class CollateralConfig(AppConfig):
    name = "collateral"
    label = "collateral"
    verbose_name = "Collateral and margin"

    def ready(self) -> None:
        # Registers approval actions, jobs, alert kinds, navigation, tiles and demo seeders.
        from collateral import alerts, approvals, bench, demo, jobs, limits, ui  # noqa: F401
