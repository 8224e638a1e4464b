from __future__ import annotations

from django import forms

from financing.refdata.models import Counterparty, Desk, Venue

REASON = forms.CharField(
    required=False, widget=forms.Textarea(attrs={"rows": 2}), max_length=500,
    help_text="Why (kept in the record's history)",
)


class AssetForm(forms.Form):
    symbol = forms.CharField(max_length=32, help_text="Upper case, e.g. BTC")
    name = forms.CharField(max_length=100)
    decimals = forms.IntegerField(min_value=0, max_value=18, help_text="The asset's own precision")
    is_stablecoin = forms.BooleanField(required=False)
    chains = forms.CharField(required=False, help_text="Comma-separated, e.g. ethereum, solana")
    is_active = forms.BooleanField(required=False, initial=True)
    reason = REASON

    def clean_chains(self):
        return [c.strip().lower() for c in self.cleaned_data["chains"].split(",") if c.strip()]


class VenueForm(forms.Form):
    code = forms.CharField(max_length=32)
    name = forms.CharField(max_length=100)
    kind = forms.ChoiceField(choices=Venue.Kind.choices)
    status = forms.ChoiceField(choices=Venue.Status.choices)
    reason = REASON


class DeskForm(forms.Form):
    code = forms.CharField(max_length=32)
    name = forms.CharField(max_length=100)
    risk_profile = forms.ChoiceField(choices=Desk.RiskProfile.choices)
    reason = REASON


class CounterpartyForm(forms.Form):
    code = forms.CharField(max_length=32)
    name = forms.CharField(max_length=200, label="Legal name")
    kind = forms.ChoiceField(choices=Counterparty.Kind.choices)
    jurisdiction = forms.CharField(min_length=2, max_length=2, help_text="ISO 3166 code, e.g. GB")
    lei = forms.CharField(max_length=20, required=False, label="LEI")
    risk_rating = forms.ChoiceField(choices=Counterparty.RiskRating.choices)
    is_active = forms.BooleanField(required=False, initial=True)
    reason = REASON


class KycChangeForm(forms.Form):
    kyc_status = forms.ChoiceField(choices=Counterparty.KycStatus.choices, label="New KYC status")
    kyc_expires_on = forms.DateField(
        required=False, label="KYC expires on", widget=forms.DateInput(attrs={"type": "date"}),
        help_text="Required for approved",
    )
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), max_length=500)
