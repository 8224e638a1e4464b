"""Reference data in the Django admin: browse and read every version, change nothing.

Changes go through the pages or the API, which call the services: a save here would skip
their checks and, for KYC, the maker-checker approval.
"""

from django.contrib import admin
from simple_history.admin import SimpleHistoryAdmin

from financing.refdata.models import Asset, Counterparty, Desk, Venue


class ReadOnlyHistoryAdmin(SimpleHistoryAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Asset)
class AssetAdmin(ReadOnlyHistoryAdmin):
    list_display = ["symbol", "name", "decimals", "is_stablecoin", "is_active"]
    list_filter = ["is_stablecoin", "is_active"]
    search_fields = ["symbol", "name"]


@admin.register(Venue)
class VenueAdmin(ReadOnlyHistoryAdmin):
    list_display = ["code", "name", "kind", "status"]
    list_filter = ["kind", "status"]
    search_fields = ["code", "name"]


@admin.register(Desk)
class DeskAdmin(ReadOnlyHistoryAdmin):
    list_display = ["code", "name", "risk_profile"]
    list_filter = ["risk_profile"]
    search_fields = ["code", "name"]


@admin.register(Counterparty)
class CounterpartyAdmin(ReadOnlyHistoryAdmin):
    list_display = [
        "code",
        "name",
        "kind",
        "jurisdiction",
        "risk_rating",
        "kyc_status",
        "kyc_expires_on",
        "is_active",
    ]
    list_filter = ["kyc_status", "kind", "risk_rating", "jurisdiction", "is_active"]
    search_fields = ["code", "name", "lei"]
    date_hierarchy = "kyc_expires_on"
