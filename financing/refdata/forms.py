"""Reference-data forms: field-level checks a person can fix before the service sees the data.

The services stay the authority (they validate again, and check uniqueness and LEI digits);
these forms only catch what a typo gets wrong, and name the field it is in.
"""

from __future__ import annotations

import re

from django import forms

from financing.fields import CODE_REGEX
from financing.refdata.models import Counterparty, Desk, Venue

CODE_HELP = "Upper case letters, digits, '.', '_' or '-'; it cannot be changed later."
CHAIN_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,31}$")
LEI_RE = re.compile(r"^[A-Z0-9]{18}[0-9]{2}$")


def reason_field() -> forms.CharField:
    return forms.CharField(
        required=False,
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Why you make this change; kept in the record's history.",
    )


class CodeField(forms.CharField):
    """A short code (BTC, GALAXY, DERIBIT): trimmed and upper-cased before the format check."""

    default_error_messages = {
        "invalid": "Use 1-32 upper-case letters, digits, '.', '_' or '-', "
        "starting with a letter or digit."
    }

    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", 32)
        kwargs.setdefault("help_text", CODE_HELP)
        super().__init__(**kwargs)

    def to_python(self, value):
        return super().to_python(value).upper()

    def validate(self, value):
        super().validate(value)
        if value and not re.match(CODE_REGEX, value):
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid")


class RefDataForm(forms.Form):
    """`key` names the code field; on edit it is dropped (a code never changes)."""

    key = "code"

    def __init__(self, *args, editing: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        if editing:
            del self.fields[self.key]


class AssetForm(RefDataForm):
    key = "symbol"

    symbol = CodeField(help_text="e.g. BTC; it cannot be changed later.")
    name = forms.CharField(max_length=100)
    decimals = forms.IntegerField(
        min_value=0,
        max_value=18,
        help_text="The asset's own precision: 8 for BTC, 18 for ETH, 6 for USDC.",
    )
    is_stablecoin = forms.BooleanField(required=False, label="Stablecoin")
    chains = forms.CharField(
        required=False, max_length=400, help_text="Comma-separated, e.g. ethereum, solana"
    )
    is_active = forms.BooleanField(required=False, initial=True, label="Active")
    reason = reason_field()

    field_order = ["symbol", "name", "decimals", "is_stablecoin", "chains", "is_active"]

    def clean_chains(self) -> list[str]:
        chains = []
        for raw in self.cleaned_data["chains"].split(","):
            chain = raw.strip().lower()
            if not chain:
                continue
            if not CHAIN_RE.match(chain):
                raise forms.ValidationError(
                    f"{raw.strip()!r} is not a chain name (letters, digits, '.', '_', '-')."
                )
            if chain not in chains:
                chains.append(chain)
        return chains


class VenueForm(RefDataForm):
    code = CodeField(help_text="e.g. DERIBIT; it cannot be changed later.")
    name = forms.CharField(max_length=100)
    kind = forms.ChoiceField(choices=Venue.Kind.choices, label="Type")
    status = forms.ChoiceField(choices=Venue.Status.choices, initial=Venue.Status.ACTIVE)
    reason = reason_field()


class DeskForm(RefDataForm):
    code = CodeField(help_text="e.g. DELTA1; it cannot be changed later.")
    name = forms.CharField(max_length=100)
    risk_profile = forms.ChoiceField(
        choices=Desk.RiskProfile.choices,
        initial=Desk.RiskProfile.MEDIUM,
        help_text="Feeds the priority of the desk's borrow requests.",
    )
    reason = reason_field()


class CounterpartyForm(RefDataForm):
    """KYC status and expiry are not here: they change only through a KYC change request."""

    code = CodeField(help_text="Short code, e.g. GALAXY; it cannot be changed later.")
    name = forms.CharField(max_length=200, label="Legal name")
    kind = forms.ChoiceField(choices=Counterparty.Kind.choices, label="Type")
    jurisdiction = forms.CharField(
        min_length=2, max_length=2, help_text="ISO 3166 two-letter country code, e.g. GB"
    )
    lei = forms.CharField(
        max_length=20, required=False, label="LEI", help_text="Legal Entity Identifier (ISO 17442)"
    )
    risk_rating = forms.ChoiceField(choices=Counterparty.RiskRating.choices)
    is_active = forms.BooleanField(required=False, initial=True, label="Active")
    reason = reason_field()

    def clean_jurisdiction(self) -> str:
        value = self.cleaned_data["jurisdiction"].strip().upper()
        if not re.fullmatch(r"[A-Z]{2}", value):
            raise forms.ValidationError("Use the two-letter ISO 3166 country code, e.g. GB.")
        return value

    def clean_lei(self) -> str:
        value = self.cleaned_data["lei"].strip().upper()
        if value and not LEI_RE.match(value):
            raise forms.ValidationError(
                "An LEI has 20 characters: 18 letters or digits, then 2 check digits."
            )
        return value


class KycChangeForm(forms.Form):
    kyc_status = forms.ChoiceField(
        choices=[("", "Choose…"), *Counterparty.KycStatus.choices], label="New KYC status"
    )
    kyc_expires_on = forms.DateField(
        required=False,
        label="KYC expires on",
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="Required when approving KYC.",
    )
    reason = forms.CharField(
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="What was checked; the approver reads this.",
    )

    def clean(self):
        data = super().clean()
        if data.get("kyc_status") == "approved" and not data.get("kyc_expires_on"):
            self.add_error("kyc_expires_on", "An approved KYC needs an expiry date.")
        return data
