"""The actions that need approval. Apps register them in AppConfig.ready().

An action names its default policy and what to do once approved. `apply` runs inside the
approval's transaction with the request row locked, so two checkers approving at once produce
exactly one effect. It returns a JSON-able dict stored as the request's result.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

Apply = Callable[..., dict[str, Any] | None]


@dataclass(frozen=True)
class ApprovalAction:
    name: str
    description: str
    default_roles: tuple[str, ...]
    apply: Apply
    #: (minimum USD amount, approvers required) tiers; the first must start at 0.
    default_tiers: tuple[tuple[Decimal, int], ...] = ((Decimal("0"), 1),)
    on_reject: Apply | None = None
    on_cancel: Apply | None = None
    extra: dict[str, Any] = field(default_factory=dict)


_ACTIONS: dict[str, ApprovalAction] = {}


def register(action: ApprovalAction) -> ApprovalAction:
    if action.default_tiers[0][0] != 0:
        raise ValueError(f"{action.name}: the first tier must start at 0 USD")
    _ACTIONS[action.name] = action
    return action


def unregister(name: str) -> None:
    _ACTIONS.pop(name, None)


def get(name: str) -> ApprovalAction:
    try:
        return _ACTIONS[name]
    except KeyError:
        raise LookupError(f"no approval action registered as {name!r}") from None


def all_actions() -> list[ApprovalAction]:
    return sorted(_ACTIONS.values(), key=lambda a: a.name)
