"""The kinds of alert the product raises. Apps register theirs in AppConfig.ready().

A kind names its default severity and the roles it concerns: users of those roles see its
alerts highlighted on the alerts page and receive them by email (besides the fixed
ALERT_EMAIL_TO addresses). The platform does not know the higher apps' kinds (margin calls,
stale prices, limit breaches): they register here, the way Django admin autodiscovers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from financing.accounts.roles import Role

KIND_NAME = re.compile(r"^[a-z][a-z0-9_.]{0,63}$")
SEVERITIES = ("info", "warning", "critical")


@dataclass(frozen=True)
class AlertKind:
    name: str
    label: str
    default_severity: str
    #: The roles this kind concerns: highlighted for them, emailed to their users.
    roles: tuple[str, ...]
    description: str = ""

    def concerns(self, role: str | None) -> bool:
        return role in self.roles


_KINDS: dict[str, AlertKind] = {}


def register_kind(kind: AlertKind) -> AlertKind:
    if not KIND_NAME.fullmatch(kind.name):
        raise ValueError(f"alert kind {kind.name!r}: use lower-case letters, digits, '_' or '.'")
    if kind.default_severity not in SEVERITIES:
        raise ValueError(f"alert kind {kind.name!r}: unknown severity {kind.default_severity!r}")
    unknown = set(kind.roles) - set(Role.values)
    if unknown:
        raise ValueError(f"alert kind {kind.name!r}: unknown roles {sorted(unknown)}")
    _KINDS[kind.name] = kind
    return kind


def unregister_kind(name: str) -> None:
    _KINDS.pop(name, None)


def get_kind(name: str) -> AlertKind:
    try:
        return _KINDS[name]
    except KeyError:
        raise LookupError(f"no alert kind registered as {name!r}") from None


def find_kind(name: str) -> AlertKind | None:
    """The kind, or None for a kind no app registers any more (old rows still display)."""
    return _KINDS.get(name)


def kind_label(name: str) -> str:
    kind = _KINDS.get(name)
    return kind.label if kind else name


def all_kinds() -> list[AlertKind]:
    return sorted(_KINDS.values(), key=lambda k: k.name)


def kinds_for_role(role: str | None) -> list[str]:
    return [k.name for k in all_kinds() if k.concerns(role)]
