"""What one revaluation run found: the engine (collateral/engine.py) fills it, the alerts
(collateral/alerts.py) and the callers read it. A module of its own so that both import it and
neither imports the other."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from collateral.models import RevaluationRun


@dataclass
class RunResult:
    """The run row; the calls opened, met, escalated and moved to liquidation and the loans
    crossing their warning level, as the rows the margin statements return; the loans back
    below their warning level; the assets priced stale or fresh again (symbols)."""

    run: RevaluationRun
    opened: list[tuple]
    met: list[tuple]
    escalated: list[tuple]
    liquidation: list[tuple]
    warnings: list[tuple]
    stale_assets: list[str]
    fresh_assets: list[str]
    stale_blocked: int = 0
    recovered: list[int] = dataclasses.field(default_factory=list)
