"""What apps contribute to the UI shell: navigation entries, home-dashboard KPI tiles and
home-dashboard charts.

A higher app never gets imported by the platform: it registers here from AppConfig.ready(),
the way Django admin autodiscovers (style.md)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class NavItem:
    section: str
    label: str
    url_name: str
    capability: str
    order: int = 100


@dataclass(frozen=True)
class Tile:
    """A KPI tile. `compute(user, now)` returns {"value", "detail"?, "tone"?, "url"?} where
    tone is one of ok, warn, bad, neutral."""

    key: str
    title: str
    capability: str
    compute: Callable[..., dict[str, Any]]
    order: int = 100
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class HomeChart:
    """A chart on the home dashboard. `compute(user, now)` returns the chart's data, put in the
    home template's context as `name` for a user whose role has `capability`."""

    name: str
    capability: str
    compute: Callable[..., Any]


SECTIONS = [
    "Overview",
    "Loans",
    "Risk",
    "Borrow desk",
    "Treasury",
    "Reconciliation",
    "Compliance",
    "Approvals",
    "Reference data",
    "Audit",
    "Operations",
]

_NAV: list[NavItem] = []
_TILES: dict[str, Tile] = {}
_HOME_CHARTS: dict[str, HomeChart] = {}


def register_nav(item: NavItem) -> None:
    if item not in _NAV:
        _NAV.append(item)


def register_tile(tile: Tile) -> None:
    _TILES[tile.key] = tile


def register_home_chart(chart: HomeChart) -> None:
    _HOME_CHARTS[chart.name] = chart


def nav_items() -> list[NavItem]:
    order = {s: i for i, s in enumerate(SECTIONS)}
    return sorted(_NAV, key=lambda n: (order.get(n.section, 99), n.order, n.label))


def tiles() -> list[Tile]:
    return sorted(_TILES.values(), key=lambda t: (t.order, t.key))


def home_charts() -> list[HomeChart]:
    return sorted(_HOME_CHARTS.values(), key=lambda c: c.name)
