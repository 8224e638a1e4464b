from django.apps import AppConfig


class AlertsConfig(AppConfig):
    name = "financing.alerts"
    label = "alerts"
    verbose_name = "Alerts"

    def ready(self) -> None:
        # Registers the delivery job, navigation and the dashboard tile. Alert kinds are
        # registered by the apps that raise them (financing.alerts.registry.register_kind).
        from financing.alerts import jobs, ui  # noqa: F401
