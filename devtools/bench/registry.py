"""`make bench`: figures measured against their targets (quality.md), each in the same run as
its baseline. One module per area (devtools/bench/) registers its figure group when the
`bench` command imports the package; the command runs them in a separate database and prints a
table, also written as JSON under var/bench/."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Figure:
    """One line of the table: `value` is a ratio to a baseline measured in the same run
    (unit "x") unless quality.md's target names an absolute; `beside` gives the absolute
    figures it was computed from, for information (the machines are shared and noisy)."""

    name: str
    value: float
    unit: str
    target: str = ""
    #: None when the figure is informational (a ratio to a naive baseline, say).
    ok: bool | None = None
    beside: str = ""
    detail: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class BenchGroup:
    name: str
    order: int
    #: run(scale=N, out=callable) -> list[Figure]; `out` prints a progress line.
    run: Callable[..., list[Figure]]


_GROUPS: dict[str, BenchGroup] = {}


def register_bench(group: BenchGroup) -> None:
    _GROUPS[group.name] = group


def groups() -> list[BenchGroup]:
    return sorted(_GROUPS.values(), key=lambda g: (g.order, g.name))
