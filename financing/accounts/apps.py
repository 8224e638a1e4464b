from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "financing.accounts"
    label = "accounts"
    verbose_name = "Users and roles"
