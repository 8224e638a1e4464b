from __future__ import annotations

from django.views.generic import TemplateView

from financing import clock
from financing.accounts.mixins import CapabilityRequiredMixin
from financing.accounts.roles import can
from financing.dashboard.registry import home_charts, tiles


class HomeView(CapabilityRequiredMixin, TemplateView):
    """The home dashboard: the KPI tiles and charts each app contributes that this user's role
    may see."""

    template_name = "dashboard/home.html"
    capability = "dashboard.view"

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        now = clock.now()
        user = self.request.user
        shown = []
        for tile in tiles():
            if can(user, tile.capability):
                shown.append({"tile": tile, **tile.compute(user, now)})
        ctx.update(tiles=shown, now=now)
        for chart in home_charts():
            if can(user, chart.capability):
                ctx[chart.name] = chart.compute(user, now)
        return ctx
