"""The audit trail in the Django admin: browse and search it, never add, change or delete it.

The trail is append-only (written by the history and auth signals); an admin who could edit it
could rewrite who did what."""

from django.contrib import admin

from financing.audit.models import ActivityEntry, AuthEvent


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(ActivityEntry)
class ActivityEntryAdmin(ReadOnlyAdmin):
    list_display = [
        "at",
        "user",
        "app_label",
        "model",
        "object_id",
        "object_repr",
        "kind",
        "reason",
    ]
    list_filter = ["kind", "app_label", "model"]
    search_fields = ["object_repr", "object_id", "reason", "user__username"]
    list_select_related = ["user"]
    date_hierarchy = "at"


@admin.register(AuthEvent)
class AuthEventAdmin(ReadOnlyAdmin):
    list_display = ["at", "kind", "username", "ip_address", "method", "path"]
    list_filter = ["kind"]
    search_fields = ["username", "ip_address", "path"]
    date_hierarchy = "at"
