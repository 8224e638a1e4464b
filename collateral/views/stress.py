"""The stress-test pages: the shock form, saved scenarios and past runs, and one run's loans
reaching call or liquidation. Every action posts to a view that calls the same service as the
API (collateral/stress.py)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import django_filters
from django import forms
from django.contrib import messages
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.utils.functional import cached_property

from collateral import selectors, stress
from collateral.models import StressRun, StressScenario
from collateral.views._common import BAND_TONE, pct
from collateral.views._figures import _d, _pct2
from financing import clock
from financing.accounts.roles import can
from financing.dashboard.display import form_errors, usd
from financing.dashboard.tables import Column, TablePageView
from financing.errors import DomainError
from financing.money import format_amount


def shock_text(value) -> str:
    value = _d(value)
    if value is None:
        return ""
    sign = "+" if value > 0 else ""
    return f"{sign}{format_amount(value * 100)}%"


def shocks_text(shocks: dict) -> str:
    return ", ".join(f"{sym} {shock_text(v)}" for sym, v in sorted((shocks or {}).items()))


class ShockForm(forms.Form):
    """One optional shock per priced asset (a fraction: -0.30 = 30% down), and an optional
    name to save them as a scenario."""

    save_as = forms.CharField(
        required=False,
        max_length=stress.NAME_MAX,
        label="Save as scenario",
        help_text="Optional: a name to keep these shocks (an existing name is replaced).",
    )
    description = forms.CharField(required=False, max_length=stress.DESCRIPTION_MAX)

    def __init__(self, *args, symbols: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        self.symbols = symbols
        for symbol in symbols:
            self.fields[f"shock_{symbol}"] = forms.DecimalField(
                required=False,
                max_digits=38,
                decimal_places=18,
                label=symbol,
                widget=forms.TextInput(
                    attrs={"inputmode": "decimal", "placeholder": "0", "size": 8}
                ),
            )

    def shocks(self) -> dict[str, Decimal]:
        out = {}
        for symbol in self.symbols:
            value = self.cleaned_data.get(f"shock_{symbol}")
            if value is not None and value != 0:
                out[symbol] = value
        return out

    def shock_field(self, symbol: str):
        return self[f"shock_{symbol}"]


class StressRunFilter(django_filters.FilterSet):
    scenario = django_filters.ModelChoiceFilter(
        queryset=StressScenario.objects.order_by("name"),
        to_field_name="name",
        empty_label="any scenario",
    )
    since = django_filters.DateFilter(
        field_name="run_at",
        lookup_expr="date__gte",
        label="From (UTC)",
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    until = django_filters.DateFilter(
        field_name="run_at",
        lookup_expr="date__lte",
        label="To (UTC)",
        widget=forms.DateInput(attrs={"type": "date"}),
    )

    class Meta:
        model = StressRun
        fields = []


def _run_link(run: StressRun) -> str:
    return reverse("collateral:stress-run", args=[run.pk])


class StressView(TablePageView):
    """The shock form, the saved scenarios and the past runs (the table, exportable)."""

    title = "Stress tests"
    capability = "collateral.view"
    post_capability = "stress.run"
    template_name = "collateral/stress.html"
    filterset_class = StressRunFilter
    export_name = "stress-runs"
    paginate_by = 25
    columns = [
        Column("id", "Run", value=lambda r: f"#{r.pk}", link=_run_link),
        Column("run_at", "Run at"),
        Column("run_by.username", "By"),
        Column("scenario.name", "Scenario"),
        Column("shocks", "Shocks", value=lambda r: shocks_text(r.shocks)),
        Column("loans_valued", "Loans valued", numeric=True),
        Column("loans_call", "Call", numeric=True),
        Column("loans_liquidation", "Liquidation", numeric=True),
        Column(
            "shortfall_usd", "Lend shortfall", value=lambda r: usd(r.shortfall_usd), numeric=True
        ),
        Column("top_up_usd", "Borrow top-up", value=lambda r: usd(r.top_up_usd), numeric=True),
        Column(
            "uncovered",
            "Uncovered",
            numeric=True,
            value=lambda r: usd(stress.run_totals(r).get("uncovered_usd")),
        ),
    ]

    def get_queryset(self):
        # The per-loan results stay in the database: the list shows the totals only.
        return (
            StressRun.objects.select_related("scenario", "run_by")
            .defer("results")
            .order_by("-run_at", "-id")
        )

    @cached_property
    def priced_assets(self) -> list[dict[str, Any]]:
        return selectors.prices_latest(now=clock.now())

    def shock_form(self, data=None, initial=None) -> ShockForm:
        return ShockForm(data, initial=initial, symbols=[p["asset"] for p in self.priced_assets])

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        scenarios = list(StressScenario.objects.select_related("created_by").order_by("name"))
        loaded = None
        wanted = self.request.GET.get("scenario_id")
        if wanted and wanted.isdigit():
            loaded = next((s for s in scenarios if s.pk == int(wanted)), None)
        form = kwargs.get("shock_form")
        if form is None:
            initial = {}
            if loaded is not None:
                initial = {f"shock_{sym}": v for sym, v in loaded.shocks.items()}
            form = self.shock_form(initial=initial)
        unknown = sorted(set(loaded.shocks) - set(form.symbols)) if loaded else []
        ctx.update(
            can_run=can(self.request.user, "stress.run"),
            shock_form=form,
            asset_rows=[{**p, "field": form.shock_field(p["asset"])} for p in self.priced_assets],
            scenarios=[{"obj": s, "shocks_text": shocks_text(s.shocks)} for s in scenarios],
            loaded=loaded,
            loaded_unpriced=unknown,
        )
        return ctx

    def post(self, request, *args, **kwargs):
        now = clock.now()
        scenario_id = request.POST.get("scenario")
        try:
            if scenario_id:
                if not scenario_id.isdigit():
                    raise Http404("No such scenario.")
                scenario = get_object_or_404(StressScenario, pk=int(scenario_id))
                run = stress.stress_run(actor=request.user, shocks=None, scenario=scenario, now=now)
            else:
                form = self.shock_form(request.POST)
                if not form.is_valid():
                    messages.error(request, f"Stress test: {form_errors(form)}")
                    return self._invalid(form)
                shocks = form.shocks()
                scenario = None
                if form.cleaned_data["save_as"]:
                    scenario, _ = stress.stress_scenario_save(
                        actor=request.user,
                        name=form.cleaned_data["save_as"],
                        shocks=shocks,
                        description=form.cleaned_data["description"],
                        now=now,
                    )
                run = stress.stress_run(
                    actor=request.user, shocks=shocks, scenario=scenario, now=now
                )
        except DomainError as exc:
            messages.error(request, f"Stress test: {exc.message}")
            if scenario_id:
                return redirect("collateral:stress")
            return self._invalid(form)
        messages.success(
            request,
            f"Stress test #{run.pk}: {run.loans_call} loan(s) at call and "
            f"{run.loans_liquidation} at liquidation; lend shortfall {usd(run.shortfall_usd)}.",
        )
        return redirect("collateral:stress-run", run.pk)

    def _invalid(self, form):
        ctx = self.get_context_data(shock_form=form)
        return self.render_to_response(ctx, status=400)


class StressResultFilterForm(forms.Form):
    band = forms.ChoiceField(
        required=False,
        choices=[("", "call & liquidation"), ("call", "call"), ("liquidation", "liquidation")],
    )
    direction = forms.ChoiceField(
        required=False, choices=[("", "lend & borrow"), ("lend", "lend"), ("borrow", "borrow")]
    )
    counterparty = forms.CharField(required=False, max_length=32)
    newly = forms.ChoiceField(
        required=False,
        label="Crossing",
        choices=[("", "any"), ("yes", "newly crossing"), ("no", "already there")],
    )


def _loan_link(row: dict) -> str:
    return reverse("loans:detail", args=[row["loan"]])


class StressRunView(TablePageView):
    """One run: its shocks and prices, the summary, and the loans reaching call or liquidation
    (the table, exportable)."""

    capability = "collateral.view"
    template_name = "collateral/stress_run.html"
    export_name = "stress-test"
    columns = [
        Column("reference", "Loan", link=_loan_link),
        Column("counterparty", "Counterparty"),
        Column("asset", "Asset"),
        Column("direction", "Direction"),
        Column("status", "Status"),
        Column("exposure_usd", "Exposure", value=lambda r: usd(r["exposure_usd"]), numeric=True),
        Column(
            "collateral_value_usd",
            "Collateral value",
            value=lambda r: usd(r["collateral_value_usd"]),
            numeric=True,
        ),
        Column(
            "current_ltv",
            "LTV now",
            value=lambda r: pct(
                r["current_ltv"], none="—" if r["current_band"] is None else "no collateral"
            ),
            numeric=True,
        ),
        Column("ltv", "Stressed LTV", value=lambda r: pct(r["ltv"]), numeric=True),
        Column("band", "Band", badge=lambda r: BAND_TONE.get(r["band"], "neutral")),
        Column("call_ltv", "Call at", value=lambda r: pct(r["call_ltv"]), numeric=True),
        Column(
            "liquidation_ltv",
            "Liquidation at",
            value=lambda r: pct(r["liquidation_ltv"]),
            numeric=True,
        ),
        Column(
            "top_up_usd", "Top-up to initial", value=lambda r: usd(r["top_up_usd"]), numeric=True
        ),
        Column("uncovered_usd", "Uncovered", value=lambda r: usd(r["uncovered_usd"]), numeric=True),
        Column(
            "newly",
            "Newly crossing",
            value=lambda r: "new" if r.get("newly") else "already",
            badge=lambda r: "warn" if r.get("newly") else "neutral",
        ),
        Column(
            "stale",
            "Stale price",
            value=lambda r: "stale" if r.get("stale") else "",
            badge=lambda r: "warn" if r.get("stale") else None,
        ),
    ]

    @cached_property
    def run(self) -> StressRun:
        return get_object_or_404(
            StressRun.objects.select_related("scenario", "run_by"), pk=self.kwargs["pk"]
        )

    @property
    def title(self) -> str:  # type: ignore[override]
        return f"Stress test #{self.run.pk}"

    def get_queryset(self):
        return list(self.run.results or [])

    def filtered(self):
        rows = self.get_queryset()
        form = StressResultFilterForm(self.request.GET or None)
        # The shared filters template reads `filterset.form`.
        self.filterset = SimpleNamespace(form=form)
        if not form.is_bound:
            return rows
        if not form.is_valid():
            return []
        d = form.cleaned_data
        if d["band"]:
            rows = [r for r in rows if r["band"] == d["band"]]
        if d["direction"]:
            rows = [r for r in rows if r["direction"] == d["direction"]]
        if d["counterparty"]:
            wanted = d["counterparty"].strip().upper()
            rows = [r for r in rows if r["counterparty"].upper() == wanted]
        if d["newly"]:
            rows = [r for r in rows if bool(r.get("newly")) == (d["newly"] == "yes")]
        return rows

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        run = self.run
        totals = stress.run_totals(run)
        prices = stress.run_prices(run)
        worst = (run.results or [])[:20]
        ctx.update(
            run=run,
            totals=totals,
            shocks_text=shocks_text(run.shocks),
            summary={
                "shortfall": usd(run.shortfall_usd),
                "top_up": usd(run.top_up_usd),
                "uncovered": usd(totals.get("uncovered_usd")),
                "lend_exposure": usd(totals.get("lend_exposure_usd")),
                "lend_collateral": usd(totals.get("lend_collateral_value_usd")),
            },
            price_rows=[
                {
                    "asset": sym,
                    "market": p.get("market_price_usd"),
                    "shocked": p.get("shocked_price_usd"),
                    "shock": shock_text(p.get("shock")) if _d(p.get("shock")) else "—",
                    "as_of": datetime.fromisoformat(p["as_of"]) if p.get("as_of") else None,
                    "stale": p.get("stale"),
                }
                for sym, p in sorted(prices.items())
            ],
            capped=len(run.results or []) < totals.get("loans_crossing", 0),
            chart={
                "labels": [f"{r['reference']} {r['counterparty']}" for r in worst],
                # No collateral has no LTV: drawn at the liquidation level, marked in the table.
                "current": [
                    _pct2(_d(r["current_ltv"])) if r["current_ltv"] is not None else None
                    for r in worst
                ],
                "stressed": [_pct2(_d(r["ltv"]) or _d(r["liquidation_ltv"])) for r in worst],
            },
            can_run=can(self.request.user, "stress.run"),
        )
        return ctx
