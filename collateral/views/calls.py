"""Risk pages: margin calls, a call's page and its actions (record top-up, escalate,
liquidate)."""

from __future__ import annotations

from decimal import Decimal

import django_filters
from django import forms
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.views.generic import TemplateView

from collateral import margin, selectors, services
from collateral.models import (
    CollateralPosition,
    LoanMarginState,
    MarginCall,
    MarginCallSide,
    MarginCallStatus,
)
from collateral.views._common import (
    CALL_TONE,
    EVENT_LABELS,
    EscalateForm,
    LiquidateForm,
    MovementForm,
    levels,
    pct,
)
from financing.accounts.mixins import CapabilityRequiredMixin
from financing.dashboard.actions import Action, ActionView, available_actions
from financing.dashboard.display import usd
from financing.dashboard.tables import Column, TablePageView
from financing.money import format_amount
from financing.refdata.models import Asset, Counterparty, Venue

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


def _top_up(user, call, d, now) -> str:
    services.collateral_top_up(
        actor=user,
        loan=call.loan,
        asset=Asset.objects.get(symbol=d["asset"]),
        venue=Venue.objects.get(code=d["venue"]),
        quantity=d["quantity"],
        now=now,
        reason=d["reason"] or f"top-up for MC{call.pk}",
    )
    call.refresh_from_db()
    return (
        f"Top-up recorded. The call is {call.get_status_display().lower()}; "
        f"LTV {pct(call.current_ltv)}."
    )


def _escalate(user, call, d, now) -> str:
    margin.margin_call_escalate(actor=user, call=call, now=now, reason=d["reason"])
    return "Call escalated."


def _liquidate(user, call, d, now) -> str:
    position = CollateralPosition.objects.get(pk=d["position"]) if d["position"] else None
    liq = margin.margin_call_liquidate(
        actor=user,
        call=call,
        now=now,
        position=position,
        sale_price_usd=d["sale_price_usd"],
        reason=d["reason"],
    )
    return (
        f"Sold {format_amount(liq.quantity_sold)} for "
        f"{usd(liq.proceeds_usd)}; LTV now {pct(liq.ltv_after)}."
    )


def _live(call, user) -> bool:
    return not call.is_closed


def _escalatable(call, user) -> bool:
    return call.status == MarginCallStatus.OPEN


def _liquidatable(call, user) -> bool:
    return (
        call.status in (MarginCallStatus.LIQUIDATION, MarginCallStatus.ESCALATED)
        and call.side == MarginCallSide.ON_COUNTERPARTY
    )


CALL_ACTIONS = {
    "top-up": Action(MovementForm, "collateral.move", "Record top-up", _top_up, _live),
    "escalate": Action(EscalateForm, "margin.act", "Escalate", _escalate, _escalatable),
    "liquidate": Action(LiquidateForm, "margin.act", "Liquidate", _liquidate, _liquidatable),
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

        def holdings(name, form, call):
            if name == "liquidate":
                form.fields["position"].choices = [("", "largest holding")] + [
                    (p.pk, f"{p.asset.symbol} at {p.venue.code}: {format_amount(p.quantity)}")
                    for p in positions
                ]

        actions = (
            []
            if call.is_closed
            else available_actions(
                CALL_ACTIONS,
                call,
                user,
                prepare=holdings,
                url=lambda name: reverse("collateral:call-action", args=[call.pk, name]),
            )
        )
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


class MarginCallActionView(ActionView):
    capability = "collateral.view"
    actions = CALL_ACTIONS

    def get_object(self, pk: int):
        return get_object_or_404(MarginCall.objects.select_related("loan"), pk=pk)

    def back_url(self, call) -> str:
        return reverse("collateral:call", args=[call.pk])

    def prepare_form(self, name, form, call) -> None:
        if name == "liquidate":
            form.fields["position"].choices = [("", "")] + [
                (p.pk, p.pk) for p in CollateralPosition.objects.filter(loan_id=call.loan_id)
            ]
