"""The alerts pages' forms. Validation of substance is the services'; these only shape input."""

from __future__ import annotations

from django import forms

from financing.alerts import registry, services
from financing.alerts.models import Severity


def kind_choices():
    return [(k.name, k.label) for k in registry.all_kinds()]


class NoteForm(forms.Form):
    note = forms.CharField(max_length=services.NOTE_MAX, required=False)


class WebhookEndpointForm(forms.Form):
    name = forms.CharField(max_length=100)
    url = forms.URLField(max_length=500, label="URL", assume_scheme="https")
    secret = forms.CharField(
        min_length=services.SECRET_MIN,
        max_length=200,
        widget=forms.PasswordInput(render_value=False),
        help_text="Signs every request (X-Alert-Signature). Stored, never shown again.",
    )
    kinds = forms.MultipleChoiceField(
        choices=kind_choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="None ticked: every kind.",
    )
    min_severity = forms.ChoiceField(choices=Severity.choices, label="Minimum severity")
    is_active = forms.BooleanField(required=False, initial=True, label="Active")
