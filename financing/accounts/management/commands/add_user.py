from django.core.management.base import BaseCommand, CommandError

from financing.accounts.roles import Role
from financing.accounts.services import user_upsert
from financing.errors import DomainError


class Command(BaseCommand):
    help = "Create a user with a role (idempotent: an existing user gets this role and password)."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--role", required=True, choices=Role.values)
        parser.add_argument("--password", required=True)
        parser.add_argument("--desk", help="desk code; required for --role trading")
        parser.add_argument(
            "--no-validate", action="store_true", help="skip the password strength checks"
        )

    def handle(self, *args, username, role, password, desk, no_validate, **options):
        try:
            user, created = user_upsert(
                username=username,
                role=role,
                password=password,
                desk_code=desk,
                validate=not no_validate,
                reason="add_user command",
            )
        except DomainError as exc:
            raise CommandError(exc.message) from None
        verb = "created" if created else "updated"
        desk_note = f" on desk {user.desk.code}" if user.desk_id else ""
        self.stdout.write(f"{verb} {user.username} ({user.role}{desk_note})")
