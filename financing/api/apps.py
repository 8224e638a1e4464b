from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "financing.api"
    label = "api"
    verbose_name = "API"
