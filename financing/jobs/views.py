from __future__ import annotations

import django_filters
from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect
from django.views import View

from financing import clock
from financing.accounts.mixins import CapabilityRequiredMixin
from financing.accounts.roles import can
from financing.dashboard.tables import Column, TablePageView
from financing.jobs import registry
from financing.jobs.models import JobRun
from financing.jobs.selectors import jobs_overview
from financing.jobs.services import job_enqueue

STATUS_TONE = {"succeeded": "ok", "failed": "bad", "running": "neutral", "skipped": "neutral"}


def _duration(r: JobRun) -> str:
    d = r.duration_seconds
    return "" if d is None else f"{d:.2f} s"


def _counts(r: JobRun) -> str:
    return ", ".join(f"{k}: {v}" for k, v in (r.counts or {}).items())


RUN_COLUMNS = [
    Column("job", "Job"),
    Column("trigger", "Trigger", value=lambda r: r.get_trigger_display()),
    Column("status", "Status", badge=lambda r: STATUS_TONE.get(r.status, "neutral")),
    Column("started_at", "Started"),
    Column("finished_at", "Finished"),
    Column("duration", "Duration", value=_duration, numeric=True),
    Column("counts", "Counts", value=_counts),
    Column("error", "Error", value=lambda r: (r.error or "")[:160]),
    Column("requested_by", "Requested by"),
]


class RunFilter(django_filters.FilterSet):
    job = django_filters.ChoiceFilter(choices=lambda: [(j.name, j.name) for j in registry.all_jobs()])

    class Meta:
        model = JobRun
        fields = ["job", "status", "trigger"]


class JobsView(TablePageView):
    """Each job's health on top; the most recent runs below (exportable)."""

    title = "Jobs"
    capability = "jobs.view"
    template_name = "jobs/list.html"
    columns = RUN_COLUMNS
    paginate_by = 20
    export_name = "job-runs"

    def get_queryset(self):
        return JobRun.objects.all()

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        now = clock.now()
        ctx.update(overview=jobs_overview(now=now), now=now,
                   can_run=can(self.request.user, "jobs.run"), status_tone=STATUS_TONE)
        return ctx


class RunsView(TablePageView):
    title = "Job runs"
    capability = "jobs.view"
    columns = RUN_COLUMNS
    filterset_class = RunFilter
    export_name = "job-runs"

    def get_queryset(self):
        return JobRun.objects.all()


class RunNowView(CapabilityRequiredMixin, View):
    capability = "jobs.run"

    def post(self, request, name):
        try:
            registry.get(name)
        except LookupError:
            raise Http404(f"No job named {name}") from None
        job_enqueue(name, trigger=JobRun.Trigger.DASHBOARD, requested_by=request.user.username)
        messages.success(request, f"Queued {name}; the worker records its run below.")
        return redirect("jobs:list")
