"""The collateral app's jobs: hourly whole-book revaluation, the debounced revaluation after new
prices, the price pull, and the escalation sweep of calls past their deadline."""

from __future__ import annotations

from celery.schedules import crontab

from financing import clock
from financing.jobs.registry import Job, register


def _revalue_collateral(*, now, trigger: str = "beat"):
    from collateral.engine import revalue

    result = revalue(now=now, trigger=trigger)
    run = result.run
    return {
        "revaluation_run": run.pk,
        "loans_valued": run.loans_valued,
        "loans_stale": run.loans_stale,
        "calls_opened": run.calls_opened,
        "calls_met": run.calls_met,
        "calls_escalated": run.calls_escalated,
        "calls_liquidation": run.calls_liquidation,
        "warnings": run.warnings,
        "seconds": str(run.seconds),
    }


def _revalue_touched(*, now):
    from collateral.services import revalue_touched

    runs = []
    # Prices that land while this runs are drained by the next pass, not left for the hour.
    for _ in range(5):
        run = revalue_touched(now=now)
        if run is None:
            break
        runs.append(run)
        now = clock.now()
    return {
        "runs": len(runs),
        "loans_valued": sum(r.loans_valued for r in runs),
        "calls_opened": sum(r.calls_opened for r in runs),
        "calls_met": sum(r.calls_met for r in runs),
    }


def _pull_prices(*, now):
    from collateral.feeds import prices_pull

    return prices_pull(now=now)


register(
    Job(
        name="revalue_collateral",
        description="Revalue the whole book's collateral and run the margin check (calls "
        "opened, met, escalated, liquidation)",
        run=_revalue_collateral,
        schedule=crontab(minute=5),
        schedule_label="hourly at :05 UTC",
        lock="revalue_collateral",
        expected_every_hours=2,
    )
)
register(
    Job(
        name="revalue_touched",
        description="Revalue the loans touched by newly arrived prices (queued after prices, "
        "debounced)",
        run=_revalue_touched,
        lock="revalue_touched",
    )
)


def _escalate_calls(*, now):
    from collateral.margin import margin_calls_escalate_due

    return {"escalated": margin_calls_escalate_due(now=now)}


register(
    Job(
        name="escalate_margin_calls",
        description="Escalate margin calls whose deadline has passed unmet (between the "
        "hourly revaluations)",
        run=_escalate_calls,
        schedule=crontab(minute="*/5"),
        schedule_label="every 5 minutes",
        lock="escalate_margin_calls",
        expected_every_hours=1,
    )
)
register(
    Job(
        name="pull_prices",
        description="Pull prices from the configured feeds (file drops, HTTP JSON feeds)",
        run=_pull_prices,
        schedule=crontab(),
        schedule_label="every minute",
        lock="pull_prices",
        expected_every_hours=1,
    )
)
