from __future__ import annotations

import django_filters
from django.db.models import Q

from financing.refdata.models import Asset, Counterparty, Desk, Venue


class _Search(django_filters.FilterSet):
    q = django_filters.CharFilter(method="search", label="Search")
    search_fields: tuple[str, ...] = ()

    def search(self, queryset, name, value):
        cond = Q()
        for f in self.search_fields:
            cond |= Q(**{f"{f}__icontains": value})
        return queryset.filter(cond)


class AssetFilter(_Search):
    search_fields = ("symbol", "name")

    class Meta:
        model = Asset
        fields = ["q", "is_stablecoin", "is_active"]


class VenueFilter(_Search):
    search_fields = ("code", "name")

    class Meta:
        model = Venue
        fields = ["q", "kind", "status"]


class DeskFilter(_Search):
    search_fields = ("code", "name")

    class Meta:
        model = Desk
        fields = ["q", "risk_profile"]


KYC_CHOICES = [("not_approved", "Not approved (blocked)"), *Counterparty.KycStatus.choices]


class CounterpartyFilter(_Search):
    search_fields = ("code", "name", "lei")
    kyc_status = django_filters.ChoiceFilter(choices=KYC_CHOICES, method="kyc", label="KYC")
    kyc_expires_before = django_filters.DateFilter(
        field_name="kyc_expires_on", lookup_expr="lte", label="KYC expires by"
    )

    class Meta:
        model = Counterparty
        fields = ["q", "kyc_status", "kyc_expires_before", "kind", "risk_rating", "jurisdiction"]

    def kyc(self, queryset, name, value):
        if value == "not_approved":
            return queryset.exclude(kyc_status=Counterparty.KycStatus.APPROVED)
        return queryset.filter(kyc_status=value)
