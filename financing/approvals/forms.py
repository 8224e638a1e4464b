"""Forms of the approvals pages: a checker's decision, and an approval policy (admins)."""

from __future__ import annotations

import re
from decimal import Decimal

from django import forms

from financing.accounts.roles import CHECKER_ROLES, Role
from financing.approvals import registry

MAX_APPROVERS = 5
TIER_LINE = re.compile(r"^\$?\s*(?P<amount>[0-9][0-9,_]*(?:\.[0-9]+)?)\s*:\s*(?P<count>[0-9]+)$")


class DecisionForm(forms.Form):
    decision = forms.ChoiceField(
        choices=[("approve", "Approve"), ("reject", "Reject"), ("cancel", "Withdraw")]
    )
    reason = forms.CharField(
        required=False,
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Kept with the decision. Required to reject.",
    )

    def clean(self):
        data = super().clean()
        if data.get("decision") == "reject" and not data.get("reason", "").strip():
            self.add_error("reason", "Say why you reject it: the maker reads this.")
        return data


def checker_role_choices() -> list[tuple[str, str]]:
    return [(r.value, r.label) for r in Role if r.value in CHECKER_ROLES]


def format_usd(amount: Decimal) -> str:
    """$1,000,000 or $2,500.50: whole dollars without cents."""
    if amount == amount.to_integral_value():
        return f"${amount:,.0f}"
    return f"${amount:,.2f}"


def tiers_as_text(tiers) -> str:
    return "\n".join(f"{format_usd(t.min_amount_usd)}: {t.approvers_required}" for t in tiers)


class PolicyForm(forms.Form):
    """Tiers are typed one per line, 'from USD amount: approvers', e.g. `0: 1` and
    `1,000,000: 2` (two approvers from one million dollars)."""

    action = forms.ChoiceField(widget=forms.HiddenInput)
    approver_roles = forms.MultipleChoiceField(
        choices=checker_role_choices,
        widget=forms.CheckboxSelectMultiple,
        label="Approver roles",
        help_text="Trading-desk users and auditors never approve anything.",
    )
    tiers = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "class": "mono"}),
        label="Approvers by amount",
        help_text="One tier per line, 'from USD amount: approvers', starting at 0, "
        "e.g. '0: 1' and '1,000,000: 2'.",
    )
    reason = forms.CharField(
        required=False,
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Why the policy changes; kept in its history.",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["action"].choices = [(a.name, a.name) for a in registry.all_actions()]

    def clean_tiers(self) -> list[tuple[Decimal, int]]:
        tiers: dict[Decimal, int] = {}
        for number, raw in enumerate(self.cleaned_data["tiers"].splitlines(), start=1):
            line = raw.strip()
            if not line:
                continue
            match = TIER_LINE.match(line)
            if not match:
                raise forms.ValidationError(
                    f"Line {number} ({line!r}): write 'from USD amount: approvers', e.g. '0: 1'."
                )
            # The pattern admits only digits, separators and one point: always a valid Decimal.
            amount = Decimal(match["amount"].replace(",", "").replace("_", ""))
            count = int(match["count"])
            if not 1 <= count <= MAX_APPROVERS:
                raise forms.ValidationError(
                    f"Line {number}: each tier needs 1 to {MAX_APPROVERS} approvers."
                )
            if amount in tiers:
                raise forms.ValidationError(f"Line {number}: {format_usd(amount)} appears twice.")
            tiers[amount] = count
        if not tiers:
            raise forms.ValidationError("Give at least one tier, starting at 0.")
        if min(tiers) != 0:
            raise forms.ValidationError("The first tier must start at 0 USD.")
        return sorted(tiers.items())
