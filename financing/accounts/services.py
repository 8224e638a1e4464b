"""Users: creation by command or admin, with the role rules (trading users need a desk)."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction

from financing.accounts.hooks import desk_for_code
from financing.accounts.roles import Role
from financing.errors import InvalidInput
from financing.history import save_stamped

User = get_user_model()


def user_upsert(
    *,
    username: str,
    role: str,
    password: str | None,
    desk_code: str | None = None,
    actor=None,
    validate: bool = True,
    reason: str = "",
):
    """Create a user, or bring an existing one to this role and desk (idempotent).

    A trading user needs a desk; the desk is created if it does not exist yet. Returns
    (user, created)."""
    if role not in Role.values:
        raise InvalidInput(
            f"Unknown role {role!r}; one of: {', '.join(Role.values)}.", field="role"
        )
    if role == Role.TRADING and not desk_code:
        raise InvalidInput("A trading user needs --desk.", field="desk")
    username = username.strip()
    if not username:
        raise InvalidInput("A username is required.", field="username")
    with transaction.atomic():
        desk = None
        if desk_code:
            desk = desk_for_code(
                actor=actor, code=desk_code.strip().upper(), reason="created by add_user"
            )
        user = User.objects.select_for_update().filter(username=username).first()
        created = user is None
        if created:
            user = User(username=username)
        elif (
            user.role == role
            and user.desk_id == (desk.pk if desk else None)
            and user.is_active
            and (not password or user.check_password(password))
        ):
            return user, False  # already so: no write, no history row
        user.role = role
        user.desk = desk if role == Role.TRADING or desk is not None else None
        user.is_staff = role == Role.ADMIN
        user.is_superuser = role == Role.ADMIN
        user.is_active = True
        if password:
            if validate:
                try:
                    validate_password(password, user)
                except ValidationError as exc:
                    raise InvalidInput(" ".join(exc.messages), field="password") from None
            user.set_password(password)
        elif created:
            user.set_unusable_password()
        save_stamped(
            user, actor=actor, reason=reason or ("user created" if created else "user updated")
        )
    return user, created


def user_last_login_record(*, user, now) -> None:
    """Stamp the login time with a plain UPDATE. Saving the user would make
    django-simple-history write an empty User version on every login; logins themselves are
    recorded as audit.AuthEvent rows."""
    User.objects.filter(pk=user.pk).update(last_login=now)
    user.last_login = now
