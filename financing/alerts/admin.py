"""Read-only admin views of alerts and their deliveries (changes go through the services)."""

from django.contrib import admin

from financing.alerts.models import Alert, AlertDelivery


class _ReadOnly(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Alert)
class AlertAdmin(_ReadOnly):
    list_display = ["id", "kind", "severity", "status", "title", "raised_at", "occurrences"]
    list_filter = ["status", "severity", "kind"]
    search_fields = ["title", "dedupe_key", "subject_id"]


@admin.register(AlertDelivery)
class AlertDeliveryAdmin(_ReadOnly):
    list_display = ["id", "alert_id", "channel", "target", "status", "attempts", "next_attempt_at"]
    list_filter = ["status", "channel"]
    list_select_related = ["alert"]
