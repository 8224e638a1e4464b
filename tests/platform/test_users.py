"""`add_user`: users with one role each, trading users on a desk, idempotent. (`seed_demo`
is tested with the rest of devtools, tests/devtools/test_demo.py.)"""

from __future__ import annotations

from io import StringIO

import pytest
from django.contrib.auth import authenticate
from django.core.management import CommandError, call_command

from financing.accounts.models import User
from financing.accounts.roles import Role
from financing.refdata.models import Desk

PASSWORD = "Tr0ub4dor-and-horse-27"


def _add_user(*args: str) -> str:
    out = StringIO()
    call_command("add_user", *args, stdout=out)
    return out.getvalue()


@pytest.mark.parametrize("role", [r for r in Role.values if r != Role.TRADING])
def test_add_user_creates_each_staff_role(db, role):
    output = _add_user(f"new-{role}", "--role", role, "--password", PASSWORD)

    user = User.objects.get(username=f"new-{role}")
    assert user.role == role
    assert user.desk is None
    assert user.is_active
    assert user.check_password(PASSWORD)
    assert (user.is_staff, user.is_superuser) == (role == Role.ADMIN, role == Role.ADMIN)
    assert output.strip() == f"created new-{role} ({role})"
    assert user.history.get().history_change_reason == "add_user command"


def test_add_user_trading_without_desk_fails_clearly(db):
    with pytest.raises(CommandError, match="trading user needs --desk"):
        _add_user("trader", "--role", "trading", "--password", PASSWORD)
    assert not User.objects.filter(username="trader").exists()


def test_add_user_trading_with_a_new_desk_creates_the_desk(db):
    output = _add_user("trader", "--role", "trading", "--password", PASSWORD, "--desk", "delta1")

    desk = Desk.objects.get(code="DELTA1")
    user = User.objects.get(username="trader")
    assert user.desk == desk
    assert "on desk DELTA1" in output
    assert desk.history.get().history_change_reason == "created by add_user"


def test_add_user_trading_on_an_existing_desk_reuses_it(db):
    _add_user("t1", "--role", "trading", "--password", PASSWORD, "--desk", "BASIS")
    _add_user("t2", "--role", "trading", "--password", PASSWORD, "--desk", "BASIS")
    assert Desk.objects.filter(code="BASIS").count() == 1
    assert set(User.objects.filter(desk__code="BASIS").values_list("username", flat=True)) == {
        "t1",
        "t2",
    }


def test_add_user_with_an_invalid_desk_code_fails_and_creates_nothing(db):
    with pytest.raises(CommandError, match="upper-case letters"):
        _add_user("trader", "--role", "trading", "--password", PASSWORD, "--desk", "bad desk")
    assert not User.objects.filter(username="trader").exists()
    assert not Desk.objects.exists()


def test_add_user_twice_is_idempotent(db):
    _add_user("alice", "--role", "ops", "--password", PASSWORD)
    history = User.history.count()

    output = _add_user("alice", "--role", "ops", "--password", PASSWORD)

    assert User.objects.filter(username="alice").count() == 1
    assert User.history.count() == history  # nothing changed, nothing written
    assert output.startswith("updated alice")


def test_add_user_again_with_another_role_updates_the_role(db):
    _add_user("alice", "--role", "ops", "--password", PASSWORD)

    _add_user("alice", "--role", "risk", "--password", PASSWORD + "-new")

    [alice] = User.objects.filter(username="alice")
    assert alice.role == Role.RISK
    assert alice.check_password(PASSWORD + "-new")
    assert alice.history.latest("history_date").history_type == "~"


def test_add_user_refuses_a_weak_password(db):
    with pytest.raises(CommandError, match=r"too short|too common|entirely numeric"):
        _add_user("bob", "--role", "ops", "--password", "123")
    assert not User.objects.filter(username="bob").exists()


def test_add_user_refuses_an_unknown_role(db):
    with pytest.raises(CommandError):
        _add_user("bob", "--role", "superhero", "--password", PASSWORD)
    assert not User.objects.filter(username="bob").exists()


def test_a_user_made_by_add_user_can_log_in(db, rf):
    _add_user("carol", "--role", "compliance", "--password", PASSWORD)
    request = rf.post("/accounts/login/")
    assert authenticate(request=request, username="carol", password=PASSWORD) is not None


def test_logging_in_stamps_last_login_without_writing_user_history(db, client):
    _add_user("dora", "--role", "ops", "--password", PASSWORD)
    versions = User.history.filter(username="dora").count()
    seen = []
    for _ in range(2):
        resp = client.post("/accounts/login/", {"username": "dora", "password": PASSWORD})
        assert resp.status_code == 302
        seen.append(User.objects.get(username="dora").last_login)
        client.logout()
    assert seen[0] is not None and seen[1] > seen[0]
    assert User.history.filter(username="dora").count() == versions
