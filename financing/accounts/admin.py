from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from simple_history.admin import SimpleHistoryAdmin

from financing.accounts.models import User


@admin.register(User)
class UserAdmin(BaseUserAdmin, SimpleHistoryAdmin):
    list_display = ["username", "role", "desk", "is_active", "last_login"]
    list_filter = ["role", "desk", "is_active"]
    fieldsets = (*BaseUserAdmin.fieldsets, ("Financing Desk", {"fields": ("role", "desk")}))
    add_fieldsets = (
        *BaseUserAdmin.add_fieldsets,
        ("Financing Desk", {"fields": ("role", "desk")}),
    )
