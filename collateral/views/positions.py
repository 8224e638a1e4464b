"""Risk pages: collateral by loan (valuation, positions, movements, top-up, release,
substitution) and by counterparty (pooled collateral), and the positions list."""

from __future__ import annotations

import django_filters
from django import forms
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.views.generic import TemplateView

from collateral import selectors, services
from collateral.models import (
    CollateralMovement,
    CollateralPosition,
    LoanMarginState,
    LoanValuation,
    MarginCall,
    PositionDirection,
)
from collateral.views._common import (
    BAND_TONE,
    MovementForm,
    PooledMovementForm,
    SubstitutionForm,
    levels,
    pct,
)
from financing.accounts.mixins import CapabilityRequiredMixin
from financing.accounts.roles import can
from financing.dashboard.actions import Action, ActionView, available_actions
from financing.dashboard.tables import Column, TablePageView
from financing.money import format_amount
from financing.refdata.models import Asset, Counterparty, Venue
from loans.models import LIVE_STATUSES, Loan

# ---------------------------------------------------------------- collateral by loan


def _movement(user, target: dict, d, now) -> dict:
    return {
        "actor": user,
        **target,
        "asset": Asset.objects.get(symbol=d["asset"]),
        "venue": Venue.objects.get(code=d["venue"]),
        "quantity": d["quantity"],
        "now": now,
        "reason": d["reason"],
    }


def _top_up(user, loan, d, now) -> str:
    services.collateral_top_up(**_movement(user, {"loan": loan}, d, now))
    return f"Top-up of {format_amount(d['quantity'])} {d['asset']} recorded."


def _release(user, loan, d, now) -> str:
    a = services.collateral_release_request(**_movement(user, {"loan": loan}, d, now))
    return f"Release requested: approval #{a.pk} waits for another user."


def _substitute(user, loan, d, now) -> str:
    services.collateral_substitute(
        actor=user,
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
    return "Substitution booked (both legs)."


def _revalue(user, loan, d, now) -> str:
    v = services.loan_revalue(loan=loan, now=now, trigger="dashboard")
    return f"Revalued: LTV {pct(v.ltv) if v else 'n/a'}."


def _live(loan, user) -> bool:
    return loan.status in LIVE_STATUSES


LOAN_ACTIONS = {
    "top-up": Action(MovementForm, "collateral.move", "Top up", _top_up, _live),
    "release": Action(MovementForm, "collateral.move", "Request release", _release, _live),
    "substitute": Action(SubstitutionForm, "collateral.move", "Substitute", _substitute, _live),
    "revalue": Action(forms.Form, "margin.act", "Revalue now", _revalue, _live),
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
        actions = available_actions(
            LOAN_ACTIONS,
            loan,
            user,
            url=lambda name: reverse("collateral:loan-action", args=[loan.pk, name]),
        )
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
                "ltv": [None if h.ltv is None else h.ltv * 100 for h in reversed(history)],
            },
            actions=actions,
        )
        return ctx


class LoanCollateralActionView(ActionView):
    capability = "collateral.view"
    actions = LOAN_ACTIONS

    def get_object(self, pk: int):
        return get_object_or_404(Loan, pk=pk)

    def back_url(self, loan) -> str:
        return reverse("collateral:loan", args=[loan.pk])


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


def _pooled_top_up(user, cp, d, now) -> str:
    target = {"counterparty": cp, "direction": d["direction"]}
    services.collateral_top_up(**_movement(user, target, d, now))
    return "Pooled top-up recorded; the counterparty's loans were revalued."


def _pooled_release(user, cp, d, now) -> str:
    target = {"counterparty": cp, "direction": d["direction"]}
    a = services.collateral_release_request(**_movement(user, target, d, now))
    return f"Release requested: approval #{a.pk}."


POOLED_ACTIONS = {
    "top-up": Action(
        PooledMovementForm, "collateral.move", "Pooled collateral", _pooled_top_up, prefix="pool"
    ),
    "release": Action(
        PooledMovementForm,
        "collateral.move",
        "Pooled collateral",
        _pooled_release,
        prefix="pool-release",
    ),
}


class CounterpartyCollateralActionView(ActionView):
    capability = "collateral.move"
    actions = POOLED_ACTIONS

    def get_object(self, code: str):
        return get_object_or_404(Counterparty, code=code)

    def back_url(self, cp) -> str:
        return reverse("collateral:counterparty", args=[cp.code])


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
