"""Filters of the reference-data lists (django-filter). The list exports exactly what they keep."""

from __future__ import annotations

import django_filters
from django import forms
from django.db.models import Q

from financing.refdata.models import Asset, Counterparty, Desk, Venue

ANY = "Any"
YES_NO = [("true", "Yes"), ("false", "No")]


class _SearchFilterSet(django_filters.FilterSet):
    """`q` searches the codes and names, case-insensitively."""

    q = django_filters.CharFilter(
        method="search",
        label="Search",
        widget=forms.TextInput(attrs={"type": "search", "placeholder": "code or name"}),
    )
    search_fields: tuple[str, ...] = ()

    def search(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        cond = Q()
        for field in self.search_fields:
            cond |= Q(**{f"{field}__icontains": value})
        return queryset.filter(cond)


def _yes_no(label: str, field_name: str) -> django_filters.BooleanFilter:
    return django_filters.BooleanFilter(
        field_name=field_name,
        label=label,
        widget=forms.Select(choices=[("", ANY), *YES_NO]),
    )


class AssetFilter(_SearchFilterSet):
    search_fields = ("symbol", "name")
    is_stablecoin = _yes_no("Stablecoin", "is_stablecoin")
    is_active = _yes_no("Active", "is_active")

    class Meta:
        model = Asset
        fields = ["q", "is_stablecoin", "is_active"]


class VenueFilter(_SearchFilterSet):
    search_fields = ("code", "name")
    kind = django_filters.ChoiceFilter(choices=Venue.Kind.choices, empty_label=ANY, label="Type")
    status = django_filters.ChoiceFilter(choices=Venue.Status.choices, empty_label=ANY)

    class Meta:
        model = Venue
        fields = ["q", "kind", "status"]


class DeskFilter(_SearchFilterSet):
    search_fields = ("code", "name")
    risk_profile = django_filters.ChoiceFilter(
        choices=Desk.RiskProfile.choices, empty_label=ANY, label="Risk profile"
    )

    class Meta:
        model = Desk
        fields = ["q", "risk_profile"]


NOT_APPROVED = "not_approved"
KYC_CHOICES = [(NOT_APPROVED, "Not approved (cannot transact)"), *Counterparty.KycStatus.choices]


class CounterpartyFilter(_SearchFilterSet):
    search_fields = ("code", "name")
    kyc_status = django_filters.ChoiceFilter(
        choices=KYC_CHOICES, method="filter_kyc_status", empty_label=ANY, label="KYC"
    )
    kyc_expires_before = django_filters.DateFilter(
        field_name="kyc_expires_on",
        lookup_expr="lte",
        label="KYC expires by",
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    kind = django_filters.ChoiceFilter(
        choices=Counterparty.Kind.choices, empty_label=ANY, label="Type"
    )
    risk_rating = django_filters.ChoiceFilter(
        choices=Counterparty.RiskRating.choices, empty_label=ANY, label="Risk rating"
    )
    jurisdiction = django_filters.CharFilter(
        method="filter_jurisdiction",
        label="Jurisdiction",
        widget=forms.TextInput(attrs={"size": 4, "maxlength": 2, "placeholder": "GB"}),
    )
    is_active = _yes_no("Active", "is_active")

    class Meta:
        model = Counterparty
        fields = [
            "q",
            "kyc_status",
            "kyc_expires_before",
            "kind",
            "risk_rating",
            "jurisdiction",
            "is_active",
        ]

    def filter_kyc_status(self, queryset, name, value):
        if value == NOT_APPROVED:
            return queryset.exclude(kyc_status=Counterparty.KycStatus.APPROVED)
        return queryset.filter(kyc_status=value)

    def filter_jurisdiction(self, queryset, name, value):
        value = value.strip().upper()
        return queryset.filter(jurisdiction=value) if value else queryset
