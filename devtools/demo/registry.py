"""Demo data: one seeder per area (devtools/demo/), registered when `manage.py seed_demo`
imports the package; the command runs them in order.

Seeders must be idempotent (get-or-create by natural key), so `make run` can load the demo
book on every start without duplicating anything."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

DEMO_PASSWORD = "demo-pass-2026"


@dataclass(frozen=True)
class Seeder:
    name: str
    order: int
    run: Callable[..., str]


_SEEDERS: dict[str, Seeder] = {}


def register_seeder(seeder: Seeder) -> None:
    _SEEDERS[seeder.name] = seeder


def seeders() -> list[Seeder]:
    return sorted(_SEEDERS.values(), key=lambda s: (s.order, s.name))
