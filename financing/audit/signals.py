"""Feed the audit trail from django-simple-history, Django's auth signals and the API's
token_issued."""

from __future__ import annotations

from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver
from simple_history.signals import post_create_historical_record

from financing.api.signals import token_issued
from financing.audit.models import AuthEvent
from financing.audit.services import activity_record, auth_event_record


@receiver(post_create_historical_record, dispatch_uid="audit-activity")
def _history_row_written(sender, instance, history_instance, **kwargs):
    model = type(instance)
    activity_record(
        history_instance=history_instance, model=model, kind=history_instance.history_type
    )


@receiver(user_logged_in, dispatch_uid="audit-login")
def _logged_in(sender, request, user, **kwargs):
    auth_event_record(kind=AuthEvent.Kind.LOGIN, request=request, user=user)


@receiver(user_logged_out, dispatch_uid="audit-logout")
def _logged_out(sender, request, user, **kwargs):
    if user is not None:
        auth_event_record(kind=AuthEvent.Kind.LOGOUT, request=request, user=user)


@receiver(user_login_failed, dispatch_uid="audit-login-failed")
def _login_failed(sender, credentials, request=None, **kwargs):
    auth_event_record(
        kind=AuthEvent.Kind.LOGIN_FAILED,
        request=request,
        username=str(credentials.get("username", "")),
    )


@receiver(token_issued, dispatch_uid="audit-token-issued")
def _token_issued(sender, request, user, **kwargs):
    auth_event_record(kind=AuthEvent.Kind.TOKEN_ISSUED, request=request, user=user)


def _locked_out(sender, request=None, username=None, ip_address=None, **kwargs):
    auth_event_record(kind=AuthEvent.Kind.LOCKED_OUT, request=request, username=username or "")


try:  # django-axes announces lockouts; record them beside the failed logins.
    from axes.signals import user_locked_out

    user_locked_out.connect(_locked_out, dispatch_uid="audit-locked-out")
except ImportError:  # pragma: no cover - axes is a hard dependency
    pass
