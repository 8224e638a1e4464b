"""Risk pages: shared tones, the risk pages' percentage wording, and the forms the actions post."""

from __future__ import annotations

from django import forms

from collateral.models import (
    MarginCallStatus,
    PositionDirection,
)
from financing.dashboard import display
from financing.refdata.models import Asset, Counterparty, Venue

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


def pct(value, *, none: str = "no collateral") -> str:
    """An LTV or a level as the risk pages show it: two places; a loan without collateral
    valued has no LTV."""
    return display.pct(value, places=2, none=none)


def levels(v) -> str:
    """A valuation's margin levels as percentages."""
    return " · ".join(
        f"{name} {pct(getattr(v, f'{name}_ltv'))}"
        for name in ("release", "initial", "warning", "call", "liquidation")
    )


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
