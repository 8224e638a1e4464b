"""The audit trail beyond record history: an activity feed over every historical model, and
authentication events (logins, logouts, failed logins, lockouts, token use)."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class ActivityEntry(models.Model):
    """One row per history row of any business model, so the global feed is a single indexed
    table (filter by user, model, date) instead of a union over every history table."""

    class Kind(models.TextChoices):
        CREATED = "+", "Created"
        CHANGED = "~", "Changed"
        DELETED = "-", "Deleted"

    at = models.DateTimeField(db_index=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    app_label = models.CharField(max_length=64)
    model = models.CharField(max_length=64)
    object_id = models.CharField(max_length=64)
    object_repr = models.CharField(max_length=200)
    history_id = models.BigIntegerField()
    kind = models.CharField(max_length=1, choices=Kind.choices)
    reason = models.CharField(max_length=100, blank=True, default="")
    changed_fields = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name_plural = "activity"
        indexes = [
            models.Index(fields=["app_label", "model", "object_id"]),
            models.Index(fields=["user", "at"]),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["app_label", "model", "history_id"], name="activity_one_per_history_row"
            )
        ]


class AuthEvent(models.Model):
    class Kind(models.TextChoices):
        LOGIN = "login", "Login"
        LOGOUT = "logout", "Logout"
        LOGIN_FAILED = "login_failed", "Failed login"
        LOCKED_OUT = "locked_out", "Locked out"
        TOKEN_ISSUED = "token_issued", "Token issued"
        TOKEN_USED = "token_used", "Token used"

    at = models.DateTimeField(db_index=True)
    kind = models.CharField(max_length=16, choices=Kind.choices, db_index=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    username = models.CharField(max_length=150, blank=True, default="")
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True, default="")
    method = models.CharField(max_length=8, blank=True, default="")
    path = models.CharField(max_length=300, blank=True, default="")

    class Meta:
        ordering = ["-at", "-id"]
