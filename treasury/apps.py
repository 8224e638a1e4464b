from django.apps import AppConfig


class TreasuryConfig(AppConfig):
    name = "treasury"
    label = "treasury"
