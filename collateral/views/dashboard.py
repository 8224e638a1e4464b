"""Risk pages: the risk dashboard and the revalue-now action."""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import redirect
from django.views import View
from django.views.generic import TemplateView

from collateral import selectors
from collateral.models import (
    MarginCall,
    RevaluationRun,
)
from collateral.views._common import (
    BAND_TONE,
    CALL_TONE,
    pct,
)
from financing import clock
from financing.accounts.mixins import CapabilityRequiredMixin
from financing.accounts.roles import can
from financing.dashboard.display import usd
from financing.jobs.services import job_run

# ---------------------------------------------------------------- risk dashboard


class RiskDashboardView(CapabilityRequiredMixin, TemplateView):
    capability = "collateral.view"
    template_name = "collateral/dashboard.html"

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        now = clock.now()
        prices = selectors.prices_latest(now=now)
        calls = list(selectors.open_calls()[:50])
        last = RevaluationRun.objects.filter(scope=RevaluationRun.Scope.BOOK).first()
        ctx.update(
            now=now,
            distribution=selectors.ltv_distribution(),
            bands=selectors.band_counts(),
            nearest=[
                {
                    "state": s,
                    "ltv": pct(s.ltv),
                    "call": pct(s.valuation.call_ltv),
                    "headroom": pct(s.headroom),
                    "tone": BAND_TONE[s.band],
                }
                for s in selectors.nearest_thresholds()
            ],
            calls=[
                {
                    "call": c,
                    "ltv": pct(c.current_ltv),
                    "top_up": usd(c.current_top_up_usd),
                    "tone": CALL_TONE[c.status],
                }
                for c in calls
            ],
            open_calls=MarginCall.objects.filter(closed_at__isnull=True).count(),
            prices=prices,
            stale_prices=[p for p in prices if p["stale"]],
            last_run=last,
            latest_run=RevaluationRun.objects.first(),
            can_revalue=can(self.request.user, "margin.act"),
        )
        return ctx


class RevalueNowView(CapabilityRequiredMixin, View):
    capability = "margin.act"

    def post(self, request):
        try:
            run = job_run(
                "revalue_collateral", trigger="dashboard", requested_by=request.user.username
            )
        except Exception as exc:  # the JobRun records the failure; the page says so
            messages.error(request, f"Revaluation failed: {exc}")
        else:
            c = run.counts
            if run.status == "skipped":
                messages.info(request, "A revaluation is already running.")
            else:
                messages.success(
                    request,
                    f"Revalued {c.get('loans_valued', 0)} loans in {c.get('seconds')} s: "
                    f"{c.get('calls_opened', 0)} calls opened, {c.get('calls_met', 0)} met.",
                )
        return redirect("collateral:dashboard")
