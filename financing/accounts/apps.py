from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "financing.accounts"
    label = "accounts"
    verbose_name = "Users and roles"

    def ready(self):
        from django.contrib.auth.models import update_last_login
        from django.contrib.auth.signals import user_logged_in

        # django.contrib.auth saves the whole user on login, which writes a User history row
        # that changes nothing (last_login is excluded from history). Replace its receiver.
        user_logged_in.disconnect(update_last_login, dispatch_uid="update_last_login")
        user_logged_in.connect(_last_login_record, dispatch_uid="accounts-last-login")


def _last_login_record(sender, user, **kwargs):
    from financing import clock
    from financing.accounts.services import user_last_login_record

    user_last_login_record(user=user, now=clock.now())
