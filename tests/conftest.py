from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from financing.accounts.roles import Role
from tests.factories import UserFactory

ROLES = list(Role.values)


@pytest.fixture
def make_user(db):
    """make_user("ops") or make_user("trading", username="t1", desk=desk)."""

    def make(role: str = "ops", **kwargs):
        return UserFactory(role=role, **kwargs)

    return make


@pytest.fixture
def api(db):
    """api(user) -> an APIClient authenticated with that user's token."""
    from rest_framework.authtoken.models import Token

    def client_for(user=None):
        client = APIClient()
        if user is not None:
            token, _ = Token.objects.get_or_create(user=user)
            client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
        return client

    return client_for


@pytest.fixture
def page(client):
    """page(user) -> a Django test client logged in as that user (session)."""

    def client_for(user):
        client.force_login(user)
        return client

    return client_for


def pytest_sessionfinish(session, exitstatus):
    """In CI a skipped test is a failure (quality.md): nothing here may be skipped."""
    import os

    if not os.environ.get("CI"):
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter else []
    if skipped:
        reporter.write_line(f"CI: {len(skipped)} skipped test(s); skipping is a failure in CI.")
        session.exitstatus = 1
