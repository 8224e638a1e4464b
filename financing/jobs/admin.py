"""Job runs in the Django admin: read them, never edit them. Runs are started from the Jobs
page or the `run_job` command, which record their own JobRun."""

from django.contrib import admin

from financing.jobs.models import JobRun


@admin.register(JobRun)
class JobRunAdmin(admin.ModelAdmin):
    list_display = ["job", "trigger", "status", "started_at", "finished_at", "requested_by"]
    list_filter = ["status", "trigger", "job"]
    search_fields = ["job", "error", "requested_by"]
    date_hierarchy = "started_at"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
