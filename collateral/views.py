"""Risk pages: the risk dashboard, margin calls and their actions, collateral by loan and by
counterparty, prices with their age, haircuts and margin policies. Every action posts to a
view that calls the same service as the API."""

from __future__ import annotations

from decimal import Decimal

import django_filters
from django import forms
from django.conf import settings
from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.views import View
from django.views.generic import TemplateView

from collateral import margin, selectors, services
from collateral.models import (
    CollateralMovement,
    CollateralPosition,
    Haircut,
    LoanMarginState,
    LoanValuation,
    MarginCall,
    MarginCallSide,
    MarginCallStatus,
    MarginPolicy,
    PositionDirection,
    PriceSnapshot,
    RevaluationRun,
)
from financing import clock
from financing.accounts.mixins import CapabilityRequiredMixin
from financing.accounts.roles import can
from financing.dashboard.tables import Column, TablePageView
from financing.errors import DomainError
from financing.jobs.services import job_run
from financing.money import format_amount
from financing.refdata.models import Asset, Counterparty, Venue
from loans.models import LIVE_STATUSES, Loan

CALL_TONE = {
    MarginCallStatus.OPEN: "warn",
    MarginCallStatus.ESCALATED: "bad",
    MarginCallStatus.LIQUIDATION: "bad",
    MarginCallStatus.MET: "ok",
}
EVENT_LABELS = {
    "opened": "Opened",
    "top_up": "Top-up received",
    "met": "Met",
    "escalated": "Escalated",
    "liquidation": "Liquidation level reached",
    "liquidated": "Collateral sold",
}
BAND_TONE = {
    "ok": "ok",
    "warning": "warn",
    "call": "bad",
    "liquidation": "bad",
    "unknown": "neutral",
}


def pct(value) -> str:
    return "no collateral" if value is None else f"{format_amount(value * 100, 2)}%"


def usd(value) -> str:
    return "" if value is None else f"{value:,.2f} USD"


def levels(v) -> str:
    """A valuation's margin levels as percentages."""
    return " · ".join(
        f"{name} {pct(getattr(v, f'{name}_ltv'))}"
        for name in ("release", "initial", "warning", "call", "liquidation")
    )


def _errors(form) -> str:
    return "; ".join(f"{k}: {' '.join(v)}" for k, v in form.errors.items())


# ---------------------------------------------------------------- forms


def _asset_choices():
    return [(a.symbol, a.symbol) for a in Asset.objects.filter(is_active=True).order_by("symbol")]


def _venue_choices():
    return [
        (v.code, f"{v.code} · {v.name}")
        for v in Venue.objects.filter(status="active").order_by("code")
    ]


class MovementForm(forms.Form):
    asset = forms.ChoiceField()
    venue = forms.ChoiceField()
    quantity = forms.DecimalField(max_digits=38, decimal_places=18, min_value=0)
    reason = forms.CharField(max_length=500, required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["asset"].choices = _asset_choices()
        self.fields["venue"].choices = _venue_choices()


class PooledMovementForm(MovementForm):
    direction = forms.ChoiceField(choices=PositionDirection.choices)


class SubstitutionForm(forms.Form):
    out_asset = forms.ChoiceField(label="Out: asset")
    out_venue = forms.ChoiceField(label="Out: venue")
    out_quantity = forms.DecimalField(label="Out: quantity", max_digits=38, decimal_places=18)
    in_asset = forms.ChoiceField(label="In: asset")
    in_venue = forms.ChoiceField(label="In: venue")
    in_quantity = forms.DecimalField(label="In: quantity", max_digits=38, decimal_places=18)
    reason = forms.CharField(max_length=500, required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for side in ("out", "in"):
            self.fields[f"{side}_asset"].choices = _asset_choices()
            self.fields[f"{side}_venue"].choices = _venue_choices()


class EscalateForm(forms.Form):
    reason = forms.CharField(max_length=500)


class LiquidateForm(forms.Form):
    position = forms.TypedChoiceField(
        coerce=int, required=False, empty_value=None, label="Holding to sell (default: the largest)"
    )
    sale_price_usd = forms.DecimalField(
        max_digits=38,
        decimal_places=18,
        min_value=0,
        required=False,
        label="Sale price, USD (default: latest)",
    )
    reason = forms.CharField(max_length=500, required=False)


class ManualPriceForm(forms.Form):
    asset = forms.ChoiceField()
    price_usd = forms.DecimalField(max_digits=38, decimal_places=18, label="Price (USD)")
    as_of = forms.DateTimeField(
        label="As of (UTC)",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )
    reason = forms.CharField(max_length=500)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["asset"].choices = _asset_choices()


class HaircutForm(forms.Form):
    asset = forms.ChoiceField()
    haircut = forms.DecimalField(
        max_digits=38,
        decimal_places=18,
        min_value=0,
        max_value=1,
        help_text="A fraction: 0.10 = 10%",
    )
    venue = forms.ChoiceField(required=False)
    counterparty = forms.ChoiceField(required=False)
    reason = forms.CharField(max_length=500, required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["asset"].choices = _asset_choices()
        self.fields["venue"].choices = [("", "any venue"), *_venue_choices()]
        self.fields["counterparty"].choices = [("", "any counterparty")] + [
            (c.code, c.code) for c in Counterparty.objects.order_by("code")
        ]


class PolicyForm(forms.Form):
    counterparty = forms.ChoiceField(required=False)
    asset = forms.ChoiceField(required=False, label="Loan asset")
    initial_ltv = forms.DecimalField(max_digits=38, decimal_places=18)
    warning_ltv = forms.DecimalField(max_digits=38, decimal_places=18)
    call_ltv = forms.DecimalField(max_digits=38, decimal_places=18)
    liquidation_ltv = forms.DecimalField(max_digits=38, decimal_places=18)
    release_ltv = forms.DecimalField(max_digits=38, decimal_places=18)
    cure_hours = forms.IntegerField(min_value=1, max_value=720)
    reason = forms.CharField(max_length=500, required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["asset"].choices = [("", "any asset"), *_asset_choices()]
        self.fields["counterparty"].choices = [("", "any counterparty")] + [
            (c.code, c.code) for c in Counterparty.objects.order_by("code")
        ]


def _get(model, field, value):
    return model.objects.get(**{field: value}) if value else None


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


# ---------------------------------------------------------------- margin calls


class CallFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=MarginCallStatus.choices, empty_label="any")
    side = django_filters.ChoiceFilter(choices=MarginCallSide.choices, empty_label="both sides")
    is_open = django_filters.BooleanFilter(
        field_name="closed_at",
        lookup_expr="isnull",
        label="Open",
        widget=forms.Select(choices=[("", "open & closed"), ("true", "open"), ("false", "closed")]),
    )
    counterparty = django_filters.ModelChoiceFilter(
        field_name="loan__counterparty",
        queryset=Counterparty.objects.order_by("code"),
        to_field_name="code",
        empty_label="any",
    )

    class Meta:
        model = MarginCall
        fields = []


def _call_link(c: MarginCall) -> str:
    return reverse("collateral:call", args=[c.pk])


class MarginCallListView(TablePageView):
    title = "Margin calls"
    capability = "collateral.view"
    filterset_class = CallFilter
    export_name = "margin-calls"
    columns = [
        Column("reference", "Call", link=_call_link),
        Column(
            "status",
            "Status",
            value=lambda c: c.get_status_display(),
            badge=lambda c: CALL_TONE[c.status],
        ),
        Column("side", "Side", value=lambda c: c.get_side_display()),
        Column(
            "loan.reference", "Loan", link=lambda c: reverse("collateral:loan", args=[c.loan_id])
        ),
        Column("loan.counterparty.code", "Counterparty"),
        Column("loan.asset.symbol", "Asset"),
        Column("ltv", "LTV now", value=lambda c: pct(c.current_ltv), numeric=True),
        Column("opening_ltv", "LTV at call", value=lambda c: pct(c.opening_ltv), numeric=True),
        Column(
            "top_up",
            "Top-up needed (USD, after haircuts)",
            value=lambda c: usd(c.current_top_up_usd),
            numeric=True,
        ),
        Column("opened_at", "Opened"),
        Column("deadline", "Deadline"),
        Column("closed_at", "Closed"),
    ]

    def get_queryset(self):
        return MarginCall.objects.select_related("loan__counterparty", "loan__asset").order_by(
            "-opened_at", "-id"
        )


CALL_ACTIONS = {
    "top-up": (MovementForm, "collateral.move", "Record top-up"),
    "escalate": (EscalateForm, "margin.act", "Escalate"),
    "liquidate": (LiquidateForm, "margin.act", "Liquidate"),
}


class MarginCallDetailView(CapabilityRequiredMixin, TemplateView):
    capability = "collateral.view"
    template_name = "collateral/call_detail.html"

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        call = get_object_or_404(
            MarginCall.objects.select_related(
                "loan__counterparty", "loan__asset", "opening_valuation"
            ),
            pk=kwargs["pk"],
        )
        user = self.request.user
        detail = selectors.margin_call_detail(call)
        state = (
            LoanMarginState.objects.filter(loan_id=call.loan_id).select_related("valuation").first()
        )
        positions = [p for p in selectors.positions_for_loan(call.loan) if p.loan_id]
        actions = []
        if not call.is_closed:
            for name, (form_cls, cap, label) in CALL_ACTIONS.items():
                if not can(user, cap):
                    continue
                if name == "escalate" and call.status != MarginCallStatus.OPEN:
                    continue
                if name == "liquidate" and (
                    call.status not in (MarginCallStatus.LIQUIDATION, MarginCallStatus.ESCALATED)
                    or call.side != MarginCallSide.ON_COUNTERPARTY
                ):
                    continue
                form = form_cls(prefix=name)
                if name == "liquidate":
                    form.fields["position"].choices = [("", "largest holding")] + [
                        (p.pk, f"{p.asset.symbol} at {p.venue.code}: {format_amount(p.quantity)}")
                        for p in positions
                    ]
                actions.append({"name": name, "label": label, "form": form})
        ctx.update(
            call=call,
            tone=CALL_TONE[call.status],
            ltv=pct(call.current_ltv),
            opening_ltv=pct(call.opening_ltv),
            required=usd(call.required_top_up_usd),
            current=usd(call.current_top_up_usd),
            state=state,
            valuation=state.valuation if state else None,
            positions=positions,
            events=[
                {
                    **e,
                    "label": EVENT_LABELS.get(e["kind"], e["kind"]),
                    "ltv": pct(Decimal(e["ltv"])) if e["ltv"] is not None else "",
                }
                for e in detail["events"]
            ],
            levels=levels(state.valuation) if state else "",
            notices=detail["notices"],
            liquidations=detail["liquidations"],
            actions=actions,
        )
        return ctx


class MarginCallActionView(CapabilityRequiredMixin, View):
    capability = "collateral.view"

    def post(self, request, pk: int, action: str):
        call = get_object_or_404(MarginCall.objects.select_related("loan"), pk=pk)
        if action not in CALL_ACTIONS:
            messages.error(request, "Unknown action.")
            return redirect("collateral:call", pk)
        form_cls, cap, label = CALL_ACTIONS[action]
        if not can(request.user, cap):
            messages.error(request, f"Your role does not allow: {label.lower()}.")
            return redirect("collateral:call", pk)
        form = form_cls(request.POST, prefix=action)
        if action == "liquidate":
            form.fields["position"].choices = [("", "")] + [
                (p.pk, p.pk) for p in CollateralPosition.objects.filter(loan_id=call.loan_id)
            ]
        if not form.is_valid():
            messages.error(request, f"{label}: {_errors(form)}")
            return redirect("collateral:call", pk)
        d = form.cleaned_data
        now = clock.now()
        try:
            if action == "top-up":
                services.collateral_top_up(
                    actor=request.user,
                    loan=call.loan,
                    asset=Asset.objects.get(symbol=d["asset"]),
                    venue=Venue.objects.get(code=d["venue"]),
                    quantity=d["quantity"],
                    now=now,
                    reason=d["reason"] or f"top-up for MC{call.pk}",
                )
                call.refresh_from_db()
                text = (
                    f"Top-up recorded. The call is {call.get_status_display().lower()}; "
                    f"LTV {pct(call.current_ltv)}."
                )
            elif action == "escalate":
                margin.margin_call_escalate(
                    actor=request.user, call=call, now=now, reason=d["reason"]
                )
                text = "Call escalated."
            else:
                position = (
                    CollateralPosition.objects.get(pk=d["position"]) if d["position"] else None
                )
                liq = margin.margin_call_liquidate(
                    actor=request.user,
                    call=call,
                    now=now,
                    position=position,
                    sale_price_usd=d["sale_price_usd"],
                    reason=d["reason"],
                )
                text = (
                    f"Sold {format_amount(liq.quantity_sold)} for "
                    f"{usd(liq.proceeds_usd)}; LTV now {pct(liq.ltv_after)}."
                )
        except DomainError as exc:
            messages.error(request, f"{label}: {exc.message}")
        else:
            messages.success(request, text)
        return redirect("collateral:call", pk)


# ---------------------------------------------------------------- collateral by loan


LOAN_ACTIONS = {
    "top-up": (MovementForm, "collateral.move", "Top up"),
    "release": (MovementForm, "collateral.move", "Request release"),
    "substitute": (SubstitutionForm, "collateral.move", "Substitute"),
    "revalue": (forms.Form, "margin.act", "Revalue now"),
}


class LoanCollateralView(CapabilityRequiredMixin, TemplateView):
    capability = "collateral.view"
    template_name = "collateral/loan.html"

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        loan = get_object_or_404(
            Loan.objects.select_related("counterparty", "asset"), pk=kwargs["pk"]
        )
        user = self.request.user
        valuation = selectors.loan_valuation_latest(loan)
        history = list(
            LoanValuation.objects.filter(loan=loan)
            .order_by("-valued_at", "-id")
            .only(
                "valued_at",
                "ltv",
                "exposure_usd",
                "collateral_value_usd",
                "stale",
                "band",
                "run_id",
            )[:30]
        )
        actions = []
        if loan.status in LIVE_STATUSES:
            for name, (form_cls, cap, label) in LOAN_ACTIONS.items():
                if can(user, cap):
                    actions.append({"name": name, "label": label, "form": form_cls(prefix=name)})
        ctx.update(
            loan=loan,
            valuation=valuation,
            v_ltv=pct(valuation.ltv) if valuation else "",
            levels=levels(valuation) if valuation else "",
            band_tone=BAND_TONE.get(valuation.band, "neutral") if valuation else "neutral",
            positions=selectors.positions_for_loan(loan),
            movements=CollateralMovement.objects.filter(position__loan=loan).select_related(
                "position__asset", "position__venue", "actor"
            )[:50],
            calls=MarginCall.objects.filter(loan=loan).order_by("-opened_at")[:20],
            history=[
                {"v": h, "ltv": pct(h.ltv), "tone": BAND_TONE.get(h.band, "neutral")}
                for h in history
            ],
            chart={
                "labels": [h.valued_at.strftime("%m-%d %H:%M") for h in reversed(history)],
                "ltv": [None if h.ltv is None else float(h.ltv * 100) for h in reversed(history)],
            },
            actions=actions,
        )
        return ctx


class LoanCollateralActionView(CapabilityRequiredMixin, View):
    capability = "collateral.view"

    def post(self, request, pk: int, action: str):
        loan = get_object_or_404(Loan, pk=pk)
        back = redirect("collateral:loan", pk)
        if action not in LOAN_ACTIONS:
            messages.error(request, "Unknown action.")
            return back
        form_cls, cap, label = LOAN_ACTIONS[action]
        if not can(request.user, cap):
            messages.error(request, f"Your role does not allow: {label.lower()}.")
            return back
        form = form_cls(request.POST, prefix=action)
        if not form.is_valid():
            messages.error(request, f"{label}: {_errors(form)}")
            return back
        d = form.cleaned_data
        now = clock.now()
        try:
            if action == "revalue":
                v = services.loan_revalue(loan=loan, now=now, trigger="dashboard")
                text = f"Revalued: LTV {pct(v.ltv) if v else 'n/a'}."
            elif action == "substitute":
                services.collateral_substitute(
                    actor=request.user,
                    loan=loan,
                    out_asset=Asset.objects.get(symbol=d["out_asset"]),
                    out_venue=Venue.objects.get(code=d["out_venue"]),
                    out_quantity=d["out_quantity"],
                    in_asset=Asset.objects.get(symbol=d["in_asset"]),
                    in_venue=Venue.objects.get(code=d["in_venue"]),
                    in_quantity=d["in_quantity"],
                    now=now,
                    reason=d["reason"],
                )
                text = "Substitution booked (both legs)."
            else:
                kwargs = {
                    "actor": request.user,
                    "loan": loan,
                    "asset": Asset.objects.get(symbol=d["asset"]),
                    "venue": Venue.objects.get(code=d["venue"]),
                    "quantity": d["quantity"],
                    "now": now,
                    "reason": d["reason"],
                }
                if action == "release":
                    a = services.collateral_release_request(**kwargs)
                    text = f"Release requested: approval #{a.pk} waits for another user."
                else:
                    services.collateral_top_up(**kwargs)
                    text = f"Top-up of {format_amount(d['quantity'])} {d['asset']} recorded."
        except DomainError as exc:
            messages.error(request, f"{label}: {exc.message}")
        else:
            messages.success(request, text)
        return back


# ---------------------------------------------------------------- collateral by counterparty


class CounterpartyCollateralView(CapabilityRequiredMixin, TemplateView):
    capability = "collateral.view"
    template_name = "collateral/counterparty.html"

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        cp = get_object_or_404(Counterparty, code=kwargs["code"])
        states = (
            LoanMarginState.objects.filter(loan__counterparty=cp, loan__status__in=LIVE_STATUSES)
            .select_related("loan__asset", "valuation")
            .order_by("loan_id")
        )
        can_move = can(self.request.user, "collateral.move")
        ctx.update(
            cp=cp,
            pooled=CollateralPosition.objects.filter(counterparty=cp, loan__isnull=True)
            .select_related("asset", "venue")
            .order_by("direction", "asset__symbol"),
            own=CollateralPosition.objects.filter(
                counterparty=cp, loan__isnull=False, quantity__gt=0
            )
            .select_related("asset", "venue", "loan")
            .order_by("loan_id", "asset__symbol"),
            loans=[
                {"s": s, "ltv": pct(s.ltv), "tone": BAND_TONE.get(s.band, "neutral")}
                for s in states
            ],
            unvalued=Loan.objects.filter(
                counterparty=cp, status__in=LIVE_STATUSES, margin_state__isnull=True
            ).count(),
            top_up_form=PooledMovementForm(prefix="pool") if can_move else None,
            release_form=PooledMovementForm(prefix="pool-release") if can_move else None,
        )
        return ctx


class CounterpartyCollateralActionView(CapabilityRequiredMixin, View):
    capability = "collateral.move"

    def post(self, request, code: str, action: str):
        cp = get_object_or_404(Counterparty, code=code)
        back = redirect("collateral:counterparty", code)
        prefix = {"top-up": "pool", "release": "pool-release"}.get(action)
        if prefix is None:
            messages.error(request, "Unknown action.")
            return back
        form = PooledMovementForm(request.POST, prefix=prefix)
        if not form.is_valid():
            messages.error(request, f"Pooled collateral: {_errors(form)}")
            return back
        d = form.cleaned_data
        kwargs = {
            "actor": request.user,
            "counterparty": cp,
            "direction": d["direction"],
            "asset": Asset.objects.get(symbol=d["asset"]),
            "venue": Venue.objects.get(code=d["venue"]),
            "quantity": d["quantity"],
            "now": clock.now(),
            "reason": d["reason"],
        }
        try:
            if action == "release":
                a = services.collateral_release_request(**kwargs)
                messages.success(request, f"Release requested: approval #{a.pk}.")
            else:
                services.collateral_top_up(**kwargs)
                messages.success(
                    request, "Pooled top-up recorded; the counterparty's loans were revalued."
                )
        except DomainError as exc:
            messages.error(request, f"Pooled collateral: {exc.message}")
        return back


class PositionFilter(django_filters.FilterSet):
    counterparty = django_filters.ModelChoiceFilter(
        queryset=Counterparty.objects.order_by("code"), to_field_name="code", empty_label="any"
    )
    asset = django_filters.ModelChoiceFilter(
        queryset=Asset.objects.order_by("symbol"), to_field_name="symbol", empty_label="any"
    )
    direction = django_filters.ChoiceFilter(choices=PositionDirection.choices, empty_label="any")
    pooled = django_filters.BooleanFilter(
        field_name="loan",
        lookup_expr="isnull",
        label="Pooled",
        widget=forms.Select(choices=[("", "any"), ("true", "pooled"), ("false", "per loan")]),
    )

    class Meta:
        model = CollateralPosition
        fields = []


class PositionListView(TablePageView):
    title = "Collateral positions"
    capability = "collateral.view"
    filterset_class = PositionFilter
    export_name = "collateral-positions"
    columns = [
        Column(
            "counterparty.code",
            "Counterparty",
            link=lambda p: reverse("collateral:counterparty", args=[p.counterparty.code]),
        ),
        Column(
            "loan",
            "Secures",
            value=lambda p: f"L{p.loan_id}" if p.loan_id else "pool",
            link=lambda p: reverse("collateral:loan", args=[p.loan_id]) if p.loan_id else "",
        ),
        Column("direction", "Direction", value=lambda p: p.get_direction_display()),
        Column("asset.symbol", "Asset"),
        Column("venue.code", "Venue"),
        Column(
            "quantity",
            "Quantity",
            value=lambda p: f"{format_amount(p.quantity)} {p.asset.symbol}",
            numeric=True,
        ),
        Column("updated_at", "Updated"),
    ]

    def get_queryset(self):
        return (
            CollateralPosition.objects.filter(quantity__gt=0)
            .select_related("counterparty", "asset", "venue")
            .order_by("-updated_at", "-id")
        )


# ---------------------------------------------------------------- prices, haircuts, policies


class PriceFilter(django_filters.FilterSet):
    asset = django_filters.ModelChoiceFilter(
        queryset=Asset.objects.order_by("symbol"), to_field_name="symbol", empty_label="any"
    )
    source = django_filters.CharFilter()

    class Meta:
        model = PriceSnapshot
        fields = []


class PricesView(TablePageView):
    title = "Prices"
    capability = "prices.view"
    template_name = "collateral/prices.html"
    filterset_class = PriceFilter
    export_name = "prices"
    columns = [
        Column("asset.symbol", "Asset"),
        Column(
            "price_usd", "Price (USD)", value=lambda p: format_amount(p.price_usd), numeric=True
        ),
        Column("as_of", "As of"),
        Column("source", "Source"),
        Column("received_at", "Received"),
        Column("created_by.username", "Entered by"),
    ]

    def get_queryset(self):
        return PriceSnapshot.objects.select_related("asset", "created_by").order_by("-as_of", "-id")

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        now = clock.now()
        ctx.update(
            latest=selectors.prices_latest(now=now, include_unpriced=True),
            stale_minutes=settings.PRICE_STALE_MINUTES,
            manual_form=ManualPriceForm(
                prefix="manual",
                initial={"as_of": now.replace(second=0, microsecond=0, tzinfo=None)},
            )
            if can(self.request.user, "prices.submit")
            else None,
        )
        return ctx


class ManualPriceView(CapabilityRequiredMixin, View):
    capability = "prices.submit"

    def post(self, request):
        form = ManualPriceForm(request.POST, prefix="manual")
        if not form.is_valid():
            messages.error(request, f"Manual price: {_errors(form)}")
            return redirect("collateral:prices")
        d = form.cleaned_data
        try:
            a = services.price_manual_request(
                actor=request.user,
                asset=Asset.objects.get(symbol=d["asset"]),
                price_usd=d["price_usd"],
                as_of=d["as_of"],
                now=clock.now(),
                reason=d["reason"],
            )
        except DomainError as exc:
            messages.error(request, f"Manual price: {exc.message}")
        else:
            messages.success(
                request, f"Manual price submitted: approval #{a.pk} waits for a checker."
            )
        return redirect("collateral:prices")


class HaircutListView(TablePageView):
    title = "Haircuts"
    capability = "collateral.view"
    template_name = "collateral/config_table.html"
    export_name = "haircuts"
    columns = [
        Column("asset.symbol", "Asset"),
        Column("scope", "Scope"),
        Column("venue.code", "Venue"),
        Column("counterparty.code", "Counterparty"),
        Column("haircut", "Haircut", value=lambda h: pct(h.haircut), numeric=True),
        Column("updated_by.username", "Set by"),
        Column("updated_at", "Set at"),
    ]

    def get_queryset(self):
        return Haircut.objects.select_related("asset", "venue", "counterparty", "updated_by")

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        ctx.update(
            config_form=HaircutForm(prefix="hc")
            if can(self.request.user, "risk.configure")
            else None,
            config_action=reverse("collateral:haircut-set"),
            config_help="The most specific haircut wins: venue + counterparty, then "
            "counterparty, then venue, then the asset's default. An asset with no "
            "haircut is not counted as collateral.",
        )
        return ctx


class HaircutSetView(CapabilityRequiredMixin, View):
    capability = "risk.configure"

    def post(self, request):
        form = HaircutForm(request.POST, prefix="hc")
        if not form.is_valid():
            messages.error(request, f"Haircut: {_errors(form)}")
            return redirect("collateral:haircuts")
        d = form.cleaned_data
        try:
            services.haircut_set(
                actor=request.user,
                asset=Asset.objects.get(symbol=d["asset"]),
                venue=_get(Venue, "code", d["venue"]),
                counterparty=_get(Counterparty, "code", d["counterparty"]),
                haircut=d["haircut"],
                now=clock.now(),
                reason=d["reason"],
            )
        except DomainError as exc:
            messages.error(request, f"Haircut: {exc.message}")
        else:
            messages.success(request, "Haircut set; it applies from the next revaluation.")
        return redirect("collateral:haircuts")


class PolicyListView(TablePageView):
    title = "Margin policies"
    capability = "collateral.view"
    template_name = "collateral/config_table.html"
    export_name = "margin-policies"
    columns = [
        Column("scope", "Scope"),
        Column("counterparty.code", "Counterparty"),
        Column("asset.symbol", "Loan asset"),
        Column("initial_ltv", "Initial", value=lambda p: pct(p.initial_ltv), numeric=True),
        Column("warning_ltv", "Warning", value=lambda p: pct(p.warning_ltv), numeric=True),
        Column("call_ltv", "Call", value=lambda p: pct(p.call_ltv), numeric=True),
        Column(
            "liquidation_ltv", "Liquidation", value=lambda p: pct(p.liquidation_ltv), numeric=True
        ),
        Column("release_ltv", "Release", value=lambda p: pct(p.release_ltv), numeric=True),
        Column("cure_hours", "Cure (h)", numeric=True),
        Column("updated_by.username", "Set by"),
    ]

    def get_queryset(self):
        return MarginPolicy.objects.select_related("counterparty", "asset", "updated_by")

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        from collateral.engine import house_defaults

        d = house_defaults()
        ctx.update(
            config_form=PolicyForm(prefix="pol")
            if can(self.request.user, "risk.configure")
            else None,
            config_action=reverse("collateral:policy-set"),
            config_help=(
                "A loan's own margin terms win; otherwise the most specific policy: "
                "counterparty + asset, counterparty, asset, house default. Without any, the "
                f"settings apply: initial {pct(d['initial_ltv'])}, warning "
                f"{pct(d['warning_ltv'])}, call {pct(d['call_ltv'])}, liquidation "
                f"{pct(d['liquidation_ltv'])}, release {pct(d['release_ltv'])}, cure "
                f"{d['cure_hours']} h."
            ),
        )
        return ctx


class PolicySetView(CapabilityRequiredMixin, View):
    capability = "risk.configure"

    def post(self, request):
        form = PolicyForm(request.POST, prefix="pol")
        if not form.is_valid():
            messages.error(request, f"Margin policy: {_errors(form)}")
            return redirect("collateral:policies")
        d = dict(form.cleaned_data)
        try:
            services.margin_policy_set(
                actor=request.user,
                now=clock.now(),
                counterparty=_get(Counterparty, "code", d.pop("counterparty")),
                asset=_get(Asset, "symbol", d.pop("asset")),
                reason=d.pop("reason"),
                terms=d,
            )
        except DomainError as exc:
            messages.error(request, f"Margin policy: {exc.message}")
        else:
            messages.success(request, "Margin policy set; it applies from the next revaluation.")
        return redirect("collateral:policies")
