"""The Jobs pages: each registered job's health (last run, last success, failures, overdue),
every run with its counts and errors, and "Run now", which queues the job for the worker.

A run started here goes through the same task and service as the schedule
(`job_enqueue` -> `jobs.run` -> `job_run`), so it records its own JobRun."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import django_filters
from django import forms
from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.text import Truncator
from django.utils.timesince import timesince
from django.views import View

from financing import clock
from financing.accounts.mixins import CapabilityRequiredMixin
from financing.accounts.roles import can
from financing.dashboard.tables import Column, TablePageView
from financing.jobs import registry
from financing.jobs.models import JobRun
from financing.jobs.selectors import jobs_overview
from financing.jobs.tasks import job_enqueue

STATUS_TONE = {
    JobRun.Status.SUCCEEDED: "ok",
    JobRun.Status.FAILED: "bad",
    JobRun.Status.RUNNING: "neutral",
    JobRun.Status.SKIPPED: "neutral",
}
#: How much of an error the tables show; the export and the admin keep it whole.
ERROR_PREVIEW_CHARS = 140


def format_duration(delta: timedelta | None) -> str:
    if delta is None:
        return ""
    millis = delta // timedelta(milliseconds=1)
    if millis < 60_000:
        return f"{millis // 1000}.{millis % 1000 // 10:02d} s"
    seconds = millis // 1000
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def _utc(at: datetime | None) -> str:
    """The column header says UTC, so the cell does not repeat it."""
    return "" if at is None else at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def _ago(at: datetime | None, now: datetime) -> str:
    if at is None:
        return ""
    if now - at < timedelta(minutes=1):
        return "just now"
    return f"{timesince(at, now)} ago"


def _duration(r: JobRun) -> str:
    if r.finished_at is None:
        return ""
    return format_duration(r.finished_at - r.started_at)


def _counts(r: JobRun) -> str:
    return ", ".join(f"{k}: {v}" for k, v in (r.counts or {}).items())


def _runs_of(r: JobRun) -> str:
    return f"{reverse('jobs:runs')}?job={r.job}"


RUN_COLUMNS = [
    Column("job", "Job", link=_runs_of),
    Column("trigger", "Trigger", value=lambda r: r.get_trigger_display()),
    Column(
        "status",
        "Status",
        value=lambda r: r.status,
        badge=lambda r: STATUS_TONE.get(r.status, "neutral"),
    ),
    Column("started_at", "Started (UTC)", value=lambda r: _utc(r.started_at)),
    Column("finished_at", "Finished (UTC)", value=lambda r: _utc(r.finished_at)),
    Column("duration", "Duration", value=_duration, numeric=True),
    Column("counts", "Counts", value=_counts),
    Column("error", "Error"),
    Column("requested_by", "Requested by"),
]


class ErrorPreviewMixin:
    """The page shows the start of an error; the CSV/XLSX export keeps all of it."""

    def rows(self, page_rows):
        rows = super().rows(page_rows)
        index = next(i for i, c in enumerate(self.get_columns()) if c.key == "error")
        for row in rows:
            cell = row["cells"][index]
            cell["text"] = Truncator(cell["text"]).chars(ERROR_PREVIEW_CHARS)
        return rows


def _job_choices() -> list[tuple[str, str]]:
    return [(j.name, j.name) for j in registry.all_jobs()]


class RunFilter(django_filters.FilterSet):
    job = django_filters.ChoiceFilter(choices=_job_choices, empty_label="Any")
    status = django_filters.ChoiceFilter(choices=JobRun.Status.choices, empty_label="Any")
    trigger = django_filters.ChoiceFilter(choices=JobRun.Trigger.choices, empty_label="Any")
    started_from = django_filters.DateFilter(
        label="Started from (UTC day)",
        field_name="started_at",
        lookup_expr="date__gte",
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    started_to = django_filters.DateFilter(
        label="Started to (UTC day)",
        field_name="started_at",
        lookup_expr="date__lte",
        widget=forms.DateInput(attrs={"type": "date"}),
    )

    class Meta:
        model = JobRun
        fields = ["job", "status", "trigger", "started_from", "started_to"]


class JobsView(ErrorPreviewMixin, TablePageView):
    """Each job's health on top; the most recent runs below."""

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
        overview = [
            {
                **row,
                "tone": STATUS_TONE.get(row["last_run"].status, "neutral")
                if row["last_run"]
                else None,
                "error": Truncator(row["last_run"].error).chars(ERROR_PREVIEW_CHARS)
                if row["last_run"] and row["last_run"].error
                else "",
                "runs_url": f"{reverse('jobs:runs')}?job={row['job'].name}",
                "started_text": _utc(row["last_run"].started_at) if row["last_run"] else "",
                "success_text": _utc(row["last_success"]),
                "success_ago": _ago(row["last_success"], now),
            }
            for row in jobs_overview(now=now)
        ]
        ctx.update(overview=overview, now=now, can_run=can(self.request.user, "jobs.run"))
        return ctx


class RunsView(ErrorPreviewMixin, TablePageView):
    title = "Job runs"
    capability = "jobs.view"
    template_name = "jobs/runs.html"
    columns = RUN_COLUMNS
    filterset_class = RunFilter
    export_name = "job-runs"

    def get_queryset(self):
        return JobRun.objects.all()


class RunNowView(CapabilityRequiredMixin, View):
    """POST only: queue the job for the worker; the run appears on the Jobs page when it starts."""

    capability = "jobs.run"
    http_method_names = ["post"]

    def post(self, request, name: str):
        try:
            registry.get(name)
        except LookupError:
            raise Http404(f"No job named {name}.") from None
        job_enqueue(name, trigger=JobRun.Trigger.DASHBOARD, requested_by=request.user.username)
        messages.success(request, f"Queued {name}. Its run shows below once the worker starts it.")
        return redirect("jobs:list")
