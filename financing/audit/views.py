"""Auditor pages: the activity feed over every business record, one record's timeline with
field diffs and the record as it stood at any time, and the authentication events.

Read-only by construction: every page is a GET that reads `financing.audit.selectors`.
All times are UTC; an "as of" typed without an offset is taken as UTC.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Any
from urllib.parse import urlencode

import django_filters
from django import forms
from django.contrib.auth import get_user_model
from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.http import Http404, HttpResponse
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html, format_html_join
from django.utils.text import Truncator, capfirst
from django.views.generic import TemplateView

from financing.accounts.mixins import CapabilityRequiredMixin
from financing.audit import selectors
from financing.audit.models import ActivityEntry, AuthEvent
from financing.dashboard.tables import Column, TablePageView, csv_safe, display
from financing.errors import NotFound

#: The user filter's word for changes no person made (scheduled jobs, migrations).
SYSTEM = "system"

KIND_TONE = {
    ActivityEntry.Kind.CREATED: "ok",
    ActivityEntry.Kind.CHANGED: "neutral",
    ActivityEntry.Kind.DELETED: "bad",
}
AUTH_TONE = {
    AuthEvent.Kind.LOGIN: "ok",
    AuthEvent.Kind.LOGOUT: "neutral",
    AuthEvent.Kind.LOGIN_FAILED: "warn",
    AuthEvent.Kind.LOCKED_OUT: "bad",
    AuthEvent.Kind.TOKEN_ISSUED: "neutral",
    AuthEvent.Kind.TOKEN_USED: "neutral",
}
#: How much of a user agent the logins table shows.
CLIENT_PREVIEW_CHARS = 48
VERSION_TONE = {"created": "ok", "changed": "neutral", "deleted": "bad"}


# --- audited models -----------------------------------------------------------------------


@lru_cache(maxsize=1)
def _audited_index() -> dict[str, type]:
    """Model by "app_label.model_name", for every model with history (the registry is fixed
    once Django has started, so this is computed once)."""
    return {m._meta.label_lower: m for m in selectors.audited_models()}


def _model_choices() -> list[tuple[str, str]]:
    return sorted(
        (
            (key, f"{capfirst(m._meta.verbose_name)} ({m._meta.app_label})")
            for key, m in _audited_index().items()
        ),
        key=lambda choice: choice[1],
    )


def _model_label(app_label: str, model_name: str) -> str:
    model = _audited_index().get(f"{app_label}.{model_name}")
    return capfirst(model._meta.verbose_name) if model else f"{app_label}.{model_name}"


def _field_labels(app_label: str, model_name: str, names: list[str]) -> list[str]:
    model = _audited_index().get(f"{app_label}.{model_name}")
    labels = []
    for name in names or []:
        try:
            labels.append(str(model._meta.get_field(name).verbose_name) if model else name)
        except FieldDoesNotExist:  # a field since removed from the model keeps its stored name
            labels.append(name)
    return labels


# --- filters --------------------------------------------------------------------------------


class SuggestInput(forms.TextInput):
    """A free-text input with a <datalist> of suggestions: type any value or pick one."""

    def __init__(self, suggestions, attrs=None):
        super().__init__(attrs)
        self.suggestions = suggestions

    def render(self, name, value, attrs=None, renderer=None):
        attrs = dict(attrs or {})
        list_id = f"{attrs.get('id') or name}-suggestions"
        attrs["list"] = list_id
        attrs.setdefault("autocomplete", "off")
        html = super().render(name, value, attrs, renderer)
        options = format_html_join(
            "", '<option value="{}"></option>', ((s,) for s in self.suggestions())
        )
        return html + format_html('<datalist id="{}">{}</datalist>', list_id, options)


def _usernames() -> list[str]:
    names = get_user_model().objects.order_by("username").values_list("username", flat=True)
    return [SYSTEM, *names]


def _day_start(d: date) -> datetime:
    return datetime.combine(d, time.min, tzinfo=UTC)


class DateRangeForm(forms.Form):
    """Refuses a range that ends before it starts, instead of quietly showing nothing."""

    def clean(self):
        data = super().clean()
        start, end = data.get("date_from"), data.get("date_to")
        if start and end and end < start:
            self.add_error("date_to", "The end date is before the start date.")
        return data


def _date_filter(label: str, method: str) -> django_filters.DateFilter:
    return django_filters.DateFilter(
        label=label, method=method, widget=forms.DateInput(attrs={"type": "date"})
    )


class DateRangeFilterSet(django_filters.FilterSet):
    """`date_from`/`date_to` are whole UTC business days, inclusive, as index-friendly ranges on
    the `at` column."""

    date_from = _date_filter("From (UTC day)", "on_or_after")
    date_to = _date_filter("To (UTC day)", "on_or_before")

    def on_or_after(self, queryset, name, value):
        return queryset.filter(at__gte=_day_start(value))

    def on_or_before(self, queryset, name, value):
        return queryset.filter(at__lt=_day_start(value + timedelta(days=1)))


class ActivityFilter(DateRangeFilterSet):
    user = django_filters.CharFilter(
        label="User",
        method="by_user",
        widget=SuggestInput(_usernames, attrs={"placeholder": "username or system"}),
    )
    model = django_filters.ChoiceFilter(
        label="Record type", choices=_model_choices, method="by_model", empty_label="Any"
    )
    object_id = django_filters.CharFilter(label="Record id", method="by_object_id")
    kind = django_filters.ChoiceFilter(
        label="Change", choices=ActivityEntry.Kind.choices, empty_label="Any"
    )

    class Meta:
        model = ActivityEntry
        form = DateRangeForm
        fields = ["user", "model", "object_id", "kind", "date_from", "date_to"]

    def by_user(self, queryset, name, value):
        value = value.strip()
        if value.lower() == SYSTEM:
            return queryset.filter(user__isnull=True)
        return queryset.filter(user__username=value)

    def by_model(self, queryset, name, value):
        app_label, _, model_name = value.partition(".")
        return queryset.filter(app_label=app_label, model=model_name)

    def by_object_id(self, queryset, name, value):
        return queryset.filter(object_id=value.strip())


class AuthEventFilter(DateRangeFilterSet):
    kind = django_filters.ChoiceFilter(
        label="Event", choices=AuthEvent.Kind.choices, empty_label="Any"
    )
    username = django_filters.CharFilter(
        label="Username",
        field_name="username",
        lookup_expr="iexact",
        widget=SuggestInput(lambda: _usernames()[1:]),
    )
    ip_address = django_filters.CharFilter(label="IP address", method="by_ip")

    class Meta:
        model = AuthEvent
        form = DateRangeForm
        fields = ["kind", "username", "ip_address", "date_from", "date_to"]

    def by_ip(self, queryset, name, value):
        return queryset.filter(ip_address=value.strip())


# --- activity feed --------------------------------------------------------------------------


def _record_url(e: ActivityEntry) -> str:
    return reverse("audit:record", args=[e.app_label, e.model, e.object_id])


class ActivityView(TablePageView):
    title = "Activity"
    capability = "audit.view"
    template_name = "audit/activity.html"
    filterset_class = ActivityFilter
    export_name = "activity"
    columns = [
        Column("at", "When (UTC)"),
        Column("user", "User", value=lambda e: e.user.username if e.user_id else SYSTEM),
        Column("model", "Record type", value=lambda e: _model_label(e.app_label, e.model)),
        Column("object_id", "Id"),
        Column("object_repr", "Record", link=_record_url),
        Column(
            "kind",
            "Change",
            value=lambda e: e.get_kind_display(),
            badge=lambda e: KIND_TONE.get(e.kind, "neutral"),
        ),
        Column(
            "changed_fields",
            "Fields changed",
            value=lambda e: _field_labels(e.app_label, e.model, e.changed_fields),
        ),
        Column("reason", "Reason"),
    ]

    def get_queryset(self):
        return selectors.activity_feed()


# --- authentication events -------------------------------------------------------------------


class AuthEventsView(TablePageView):
    """Newest first. The page shortens the client (user agent); the export keeps it whole."""

    title = "Logins, logouts and API tokens"
    capability = "audit.auth_events"
    template_name = "audit/auth_events.html"
    filterset_class = AuthEventFilter
    export_name = "auth-events"
    columns = [
        Column("at", "When (UTC)"),
        Column(
            "kind",
            "Event",
            value=lambda e: e.get_kind_display(),
            badge=lambda e: AUTH_TONE.get(e.kind, "neutral"),
        ),
        Column("username", "Username"),
        Column("ip_address", "IP address"),
        Column("method", "Method"),
        Column("path", "Path"),
        Column("user_agent", "Client"),
    ]

    def get_queryset(self):
        return selectors.auth_events()

    def rows(self, page_rows):
        rows = super().rows(page_rows)
        index = [c.key for c in self.get_columns()].index("user_agent")
        for row in rows:
            cell = row["cells"][index]
            cell["text"] = Truncator(cell["text"]).chars(CLIENT_PREVIEW_CHARS)
        return rows


# --- one record -----------------------------------------------------------------------------

_PLUS_DECODED_AS_SPACE = re.compile(r"(T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?) (\d{2}(?::?\d{2})?)$")


def parse_as_of(value: str) -> datetime:
    """An ISO 8601 date or date-time; without an offset it is UTC. Raises ValueError.

    Accepts what a datetime-local input sends (2026-03-01T14:30[:05]) and a pasted ISO time
    whose "+" a query string turned into a space (2026-03-01T14:30:00 00:00)."""
    text = value.strip()
    if len(text) > 10 and text[10] == " ":
        text = f"{text[:10]}T{text[11:]}"
    text = _PLUS_DECODED_AS_SPACE.sub(r"\1+\2", text)
    if text[-1:] in ("Z", "z"):
        text = text[:-1] + "+00:00"
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except OverflowError:
        raise ValueError("out of range") from None


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")


def _live_record_url(model, pk: str) -> str | None:
    """The record's own page, by the `<app>:<model>-detail` convention (reference data is
    addressed by its code or symbol), when the record still exists."""
    name = f"{model._meta.app_label}:{model._meta.model_name}-detail"
    obj = model._default_manager.filter(pk=pk).first()
    if obj is None:
        return None
    key = next((getattr(obj, k) for k in ("symbol", "code") if hasattr(obj, k)), obj.pk)
    try:
        return reverse(name, args=[key])
    except NoReverseMatch:
        return None


def _changed_values(timeline) -> list[tuple[str, Any]]:
    return [
        (c["field"], value)
        for v in timeline
        for c in v["changes"]
        for value in (c["old"], c["new"])
    ]


class FieldValues:
    """Field values as the page and the export show them: a foreign key reads as the record it
    points at ("ops (#3)") rather than a bare id. One query per foreign-key field, whatever the
    number of versions."""

    def __init__(self, model, field_values: Iterable[tuple[str, Any]]):
        foreign = {f.name: f for f in model._meta.fields if f.many_to_one and f.related_model}
        wanted: dict[str, set] = {}
        for name, value in field_values:
            if name in foreign and value not in (None, ""):
                wanted.setdefault(name, set()).add(value)
        self.labels: dict[str, dict[str, str]] = {}
        for name, keys in wanted.items():
            field = foreign[name]
            target = field.target_field.name
            found = field.related_model._base_manager.in_bulk(list(keys), field_name=target)
            self.labels[name] = {str(k): f"{obj} (#{k})" for k, obj in found.items()}

    def text(self, name: str, value: Any) -> str:
        if value is None:
            return ""
        if isinstance(value, dict):
            return json.dumps(value, ensure_ascii=False, default=str)
        return self.labels.get(name, {}).get(str(value)) or display(value)


class RecordView(CapabilityRequiredMixin, TemplateView):
    """A record's timeline, newest version first, with who, when (UTC), why and a field-by-field
    diff; and the record as it stood at a chosen time. `?export=csv` gives the timeline oldest
    first, one row per changed field."""

    capability = "audit.view"
    template_name = "audit/record.html"

    def _resolve(self):
        app_label, model_name, raw_pk = (
            self.kwargs["app_label"],
            self.kwargs["model_name"],
            str(self.kwargs["pk"]),
        )
        try:
            model = selectors.audited_model(app_label, model_name)
        except NotFound as exc:
            raise Http404(exc.message) from None
        try:
            pk = str(model._meta.pk.to_python(raw_pk))
        except ValidationError:
            raise Http404(f"No {model._meta.verbose_name} {raw_pk}.") from None
        try:
            timeline = selectors.record_timeline(model, pk)
        except NotFound as exc:
            raise Http404(exc.message) from None
        return model, pk, timeline

    def get(self, request, *args, **kwargs):
        model, pk, timeline = self._resolve()
        if request.GET.get("export") == "csv":
            return self.export_csv(model, pk, timeline)
        return self.render_to_response(self.get_context_data(model=model, pk=pk, timeline=timeline))

    def get_context_data(self, *, model, pk, timeline, **kwargs):
        ctx = super().get_context_data(**kwargs)
        meta = model._meta
        latest_repr = (
            ActivityEntry.objects.filter(
                app_label=meta.app_label, model=meta.model_name, object_id=pk
            )
            .order_by("-at", "-id")
            .values_list("object_repr", flat=True)
            .first()
        )
        ctx.update(
            model_label=meta.label_lower,
            verbose_name=capfirst(meta.verbose_name),
            pk=pk,
            record_repr=latest_repr or pk,
            first_at=timeline[0]["at"],
            deleted=timeline[-1]["type"] == "deleted",
            live_url=_live_record_url(model, pk),
            activity_url=(
                f"{reverse('audit:activity')}?"
                f"{urlencode({'model': meta.label_lower, 'object_id': pk})}"
            ),
        )
        as_of_record = None
        raw = self.request.GET.get("as_of", "").strip()
        ctx["as_of_input"] = raw
        if raw:
            try:
                at = parse_as_of(raw)
            except ValueError:
                ctx["as_of_error"] = (
                    f"“{raw}” is not a date and time. Use YYYY-MM-DDTHH:MM[:SS] in UTC, "
                    "for example 2026-03-01T14:30, or an ISO time with an offset."
                )
            else:
                as_of_record = selectors.record_as_of(model, pk, at)
                ctx.update(
                    as_of=at, as_of_input=_iso(at), as_of_before_first=at < timeline[0]["at"]
                )
        as_of_fields = as_of_record["fields"] if as_of_record else []
        values = FieldValues(
            model,
            [(f["field"], f["value"]) for f in as_of_fields] + _changed_values(timeline),
        )
        if as_of_record is not None:
            as_of_record["fields"] = [
                {**f, "text": values.text(f["field"], f["value"])} for f in as_of_fields
            ]
            ctx["as_of_record"] = as_of_record
        elif "as_of" in ctx:
            ctx["as_of_record"] = None
        ctx["versions"] = [
            {
                **v,
                "as_of": _iso(v["at"]),
                "tone": VERSION_TONE[v["type"]],
                "changes": [
                    {
                        **c,
                        "old_text": values.text(c["field"], c["old"]),
                        "new_text": values.text(c["field"], c["new"]),
                    }
                    for c in v["changes"]
                ],
            }
            for v in reversed(timeline)
        ]
        return ctx

    def export_csv(self, model, pk: str, timeline) -> HttpResponse:
        """Oldest version first, one row per changed field: time, user, reason, field, old, new,
        then the kind of change. A version that changed no field (a deletion) gets one row."""
        resp = HttpResponse(content_type="text/csv; charset=utf-8")
        filename = f"{model._meta.app_label}-{model._meta.model_name}-{pk}-history.csv"
        resp["Content-Disposition"] = f'attachment; filename="{filename}"'
        writer = csv.writer(resp)

        def writerow(cells) -> None:
            writer.writerow([csv_safe(str(c)) for c in cells])

        writerow(["Version at (UTC)", "User", "Reason", "Field", "Old", "New", "Change"])
        values = FieldValues(model, _changed_values(timeline))
        for v in timeline:
            head = [display(v["at"]), v["user"] or SYSTEM, v["reason"]]
            for c in v["changes"]:
                old = "" if v["type"] == "created" else values.text(c["field"], c["old"])
                new = values.text(c["field"], c["new"])
                writerow([*head, c["field"], old, new, v["type"]])
            if not v["changes"]:
                writerow([*head, "", "", "", v["type"]])
        return resp
