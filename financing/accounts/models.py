from __future__ import annotations

from django.contrib.auth.models import AbstractUser
from django.db import models
from simple_history.models import HistoricalRecords

from financing.accounts.roles import Role


class User(AbstractUser):
    """A person or a system account. Exactly one role; trading-desk users belong to a desk."""

    role = models.CharField(max_length=16, choices=Role.choices)
    desk = models.ForeignKey(
        "refdata.Desk", null=True, blank=True, on_delete=models.PROTECT, related_name="users"
    )
    # last_login changes on every login; logins are in audit.AuthEvent instead.
    history = HistoricalRecords(excluded_fields=["password", "last_login"])

    class Meta:
        ordering = ["username"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(role__in=Role.values), name="user_role_is_known"
            ),
            models.CheckConstraint(
                condition=~models.Q(role=Role.TRADING) | models.Q(desk__isnull=False),
                name="trading_user_has_desk",
            ),
        ]

    def __str__(self) -> str:
        return self.username

    @property
    def role_label(self) -> str:
        return Role(self.role).label if self.role in Role.values else self.role
