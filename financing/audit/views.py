"""Auditor pages: the activity feed, a record's timeline with diffs and as-of view, logins."""

from __future__ import annotations

import csv
from datetime import UTC, datetime

import django_filters
from django import forms
from django.http import Http404, HttpResponse
from django.urls import reverse
from django.views.generic import TemplateView

from financing.accounts.mixins import CapabilityRequiredMixin
from financing.audit import selectors
from financing.audit.models import ActivityEntry, AuthEvent
from financing.dashboard.tables import Column, TablePageView, display
from financing.errors import NotFound

KIND_TONE = {"+": "ok", "~": "neutral", "-": "bad"}


def _model_choices():
    return [
        (f"{m._meta.app_label}.{m._meta.model_name}", f"{m._meta.verbose_name} ({m._meta.app_label})")
        for m in selectors.audited_models()
    ]


class ActivityFilter(django_filters.FilterSet):
    user = django_filters.CharFilter(field_name="user__username", label="User")
    model = django_filters.ChoiceFilter(choices=_model_choices, method="by_model", label="Record type")
    object_id = django_filters.CharFilter(label="Record id")
    date_from = django_filters.DateFilter(field_name="at", lookup_expr="date__gte", label="From (UTC)",
                                          widget=forms.DateInput(attrs={"type": "date"}))
    date_to = django_filters.DateFilter(field_name="at", lookup_expr="date__lte", label="To (UTC)",
                                        widget=forms.DateInput(attrs={"type": "date"}))

    class Meta:
        model = ActivityEntry
        fields = ["user", "model", "object_id", "date_from", "date_to"]

    def by_model(self, queryset, name, value):
        app_label, _, model = value.partition(".")
        return queryset.filter(app_label=app_label, model=model)


def _record_link(e: ActivityEntry) -> str:
    return reverse("audit:record", args=[e.app_label, e.model, e.object_id])


class ActivityView(TablePageView):
    title = "Activity: every change to every record"
    capability = "audit.view"
    filterset_class = ActivityFilter
    export_name = "activity"
    columns = [
        Column("at", "When"),
        Column("user.username", "User", value=lambda e: e.user.username if e.user else "system"),
        Column("model", "Record type", value=lambda e: f"{e.app_label}.{e.model}"),
        Column("object_repr", "Record", link=_record_link),
        Column("kind", "Change", value=lambda e: e.get_kind_display(),
               badge=lambda e: KIND_TONE.get(e.kind, "neutral")),
        Column("changed_fields", "Fields changed"),
        Column("reason", "Reason"),
    ]

    def get_queryset(self):
        return selectors.activity_feed()


class AuthEventFilter(django_filters.FilterSet):
    kind = django_filters.ChoiceFilter(choices=AuthEvent.Kind.choices)
    username = django_filters.CharFilter()
    date_from = django_filters.DateFilter(field_name="at", lookup_expr="date__gte", label="From (UTC)",
                                          widget=forms.DateInput(attrs={"type": "date"}))
    date_to = django_filters.DateFilter(field_name="at", lookup_expr="date__lte", label="To (UTC)",
                                        widget=forms.DateInput(attrs={"type": "date"}))

    class Meta:
        model = AuthEvent
        fields = ["kind", "username", "date_from", "date_to"]


AUTH_TONE = {"login_failed": "warn", "locked_out": "bad", "login": "ok"}


class AuthEventsView(TablePageView):
    title = "Logins, logouts and API tokens"
    capability = "audit.auth_events"
    filterset_class = AuthEventFilter
    export_name = "auth-events"
    columns = [
        Column("at", "When"),
        Column("kind", "Event", value=lambda e: e.get_kind_display(),
               badge=lambda e: AUTH_TONE.get(e.kind, "neutral")),
        Column("username", "User"),
        Column("ip_address", "IP"),
        Column("method", "Method"),
        Column("path", "Path"),
        Column("user_agent", "Client"),
    ]

    def get_queryset(self):
        return selectors.auth_events()


def _parse_as_of(value: str) -> datetime:
    text = value.strip().replace(" ", "T")
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    parsed = datetime.fromisoformat(text)
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


class RecordView(CapabilityRequiredMixin, TemplateView):
    """A record's timeline (newest first) with field diffs, and the record as of a time (UTC)."""

    capability = "audit.view"
    template_name = "audit/record.html"

    def get(self, request, *args, **kwargs):
        try:
            model = selectors.audited_model(kwargs["app_label"], kwargs["model_name"])
            timeline = selectors.record_timeline(model, str(kwargs["pk"]))
        except NotFound as exc:
            raise Http404(exc.message) from None
        if request.GET.get("export") == "csv":
            return self.export(model, timeline)
        ctx = self.get_context_data(**kwargs)
        ctx.update(model=model, verbose_name=model._meta.verbose_name,
                   timeline=list(reversed(timeline)), pk=kwargs["pk"])
        latest = timeline[-1]
        ctx["title_repr"] = next(
            (c["new"] for c in latest["changes"] if c["field"] in ("code", "symbol", "username")),
            kwargs["pk"],
        )
        as_of_raw = request.GET.get("as_of", "").strip()
        if as_of_raw:
            try:
                at = _parse_as_of(as_of_raw)
            except ValueError:
                ctx["as_of_error"] = (
                    f"'{as_of_raw}' is not a date and time; use YYYY-MM-DDTHH:MM (UTC)."
                )
            else:
                ctx["as_of"] = at
                ctx["as_of_record"] = selectors.record_as_of(model, str(kwargs["pk"]), at)
                ctx["as_of_value"] = at.strftime("%Y-%m-%dT%H:%M:%S")
        return self.render_to_response(ctx)

    def export(self, model, timeline) -> HttpResponse:
        resp = HttpResponse(content_type="text/csv; charset=utf-8")
        name = f"{model._meta.model_name}-{self.kwargs['pk']}-history.csv"
        resp["Content-Disposition"] = f'attachment; filename="{name}"'
        writer = csv.writer(resp)
        writer.writerow(["version_at_utc", "user", "type", "reason", "field", "old", "new"])
        for v in timeline:
            for c in v["changes"]:
                writer.writerow([display(v["at"]), v["user"] or "system", v["type"], v["reason"],
                                 c["field"], display(c["old"]), display(c["new"])])
        return resp
