"""Risk pages: prices with their age and manual entry, haircuts, margin policies."""

from __future__ import annotations

import django_filters
from django.conf import settings
from django.urls import reverse

from collateral import selectors, services
from collateral.models import (
    Haircut,
    MarginPolicy,
    PriceSnapshot,
)
from collateral.views._common import (
    HaircutForm,
    ManualPriceForm,
    PolicyForm,
    _get,
    pct,
)
from financing import clock
from financing.accounts.roles import can
from financing.dashboard.actions import Action, ActionView
from financing.dashboard.tables import Column, TablePageView
from financing.money import format_amount
from financing.refdata.models import Asset, Counterparty, Venue

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


def _manual_price(user, obj, d, now) -> str:
    a = services.price_manual_request(
        actor=user,
        asset=Asset.objects.get(symbol=d["asset"]),
        price_usd=d["price_usd"],
        as_of=d["as_of"],
        now=now,
        reason=d["reason"],
    )
    return f"Manual price submitted: approval #{a.pk} waits for a checker."


class ManualPriceView(ActionView):
    capability = "prices.submit"
    action_name = "manual"
    actions = {"manual": Action(ManualPriceForm, "prices.submit", "Manual price", _manual_price)}

    def back_url(self, obj) -> str:
        return reverse("collateral:prices")


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


def _haircut_set(user, obj, d, now) -> str:
    services.haircut_set(
        actor=user,
        asset=Asset.objects.get(symbol=d["asset"]),
        venue=_get(Venue, "code", d["venue"]),
        counterparty=_get(Counterparty, "code", d["counterparty"]),
        haircut=d["haircut"],
        now=now,
        reason=d["reason"],
    )
    return "Haircut set; it applies from the next revaluation."


class HaircutSetView(ActionView):
    capability = "risk.configure"
    action_name = "hc"
    actions = {"hc": Action(HaircutForm, "risk.configure", "Haircut", _haircut_set)}

    def back_url(self, obj) -> str:
        return reverse("collateral:haircuts")


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


def _policy_set(user, obj, d, now) -> str:
    d = dict(d)
    services.margin_policy_set(
        actor=user,
        now=now,
        counterparty=_get(Counterparty, "code", d.pop("counterparty")),
        asset=_get(Asset, "symbol", d.pop("asset")),
        reason=d.pop("reason"),
        terms=d,
    )
    return "Margin policy set; it applies from the next revaluation."


class PolicySetView(ActionView):
    capability = "risk.configure"
    action_name = "pol"
    actions = {"pol": Action(PolicyForm, "risk.configure", "Margin policy", _policy_set)}

    def back_url(self, obj) -> str:
        return reverse("collateral:policies")
