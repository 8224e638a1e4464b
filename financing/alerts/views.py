"""The alerts pages: the alert list (filters, acknowledge and resolve), one alert with its
events and deliveries, the delivery log, and the webhook endpoints. Every action posts to a
view that calls the same service as the API."""

from __future__ import annotations

import django_filters
from django import forms
from django.conf import settings
from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views import View
from django.views.generic import TemplateView

from financing import clock
from financing.accounts.mixins import CapabilityRequiredMixin
from financing.accounts.roles import can
from financing.alerts import registry, selectors, services
from financing.alerts.delivery import max_attempts
from financing.alerts.display import (
    DELIVERY_TONE,
    SEVERITY_TONE,
    STATUS_TONE,
    attempts_text,
    delivery_target,
    masked_url,
    utc_of,
)
from financing.alerts.forms import NoteForm, WebhookEndpointForm, kind_choices
from financing.alerts.models import (
    LIVE_STATUSES,
    Alert,
    AlertDelivery,
    AlertStatus,
    Channel,
    DeliveryStatus,
    Severity,
    WebhookEndpoint,
)
from financing.dashboard.actions import Action, ActionView
from financing.dashboard.tables import Column, TablePageView
from financing.errors import DomainError

LIVE = "live"


def _detail_link(alert: Alert) -> str:
    return reverse("alerts:detail", args=[alert.pk])


def _subject_text(alert: Alert) -> str:
    return f"{alert.subject_type} {alert.subject_id}".strip()


def _subject_link(alert: Alert) -> str | None:
    return alert.subject_url or None


def _by(user_field: str, at_field: str):
    def value(alert: Alert) -> str:
        if getattr(alert, at_field) is None:
            return ""
        user = getattr(alert, user_field)
        return user.username if user is not None else "system"

    return value


class _KeyedCells:
    """Each cell carries a CSS class named after its column, so the alert tables can size
    their columns (titles wide, times on one line) while TablePageView builds the cells."""

    def rows(self, page_rows):
        rows = super().rows(page_rows)
        classes = ["al-col-" + c.key.replace(".", "-") for c in self.get_columns()]
        for row in rows:
            for cell, css in zip(row["cells"], classes, strict=True):
                cell["css"] = css
        return rows


# ---------------------------------------------------------------- alert list


class AlertFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(
        choices=[(LIVE, "Open or acknowledged"), *AlertStatus.choices],
        method="filter_status",
        empty_label="any status",
    )
    severity = django_filters.ChoiceFilter(choices=Severity.choices, empty_label="any severity")
    kind = django_filters.ChoiceFilter(choices=kind_choices, empty_label="any kind")
    subject_type = django_filters.CharFilter(label="Subject type")
    subject_id = django_filters.CharFilter(label="Subject id")
    mine = django_filters.BooleanFilter(
        label="Concerns",
        method="filter_mine",
        widget=forms.Select(choices=[("", "every role"), ("true", "my role")]),
    )

    class Meta:
        model = Alert
        fields = []

    def filter_status(self, queryset, name, value):
        if value == LIVE:
            return queryset.filter(status__in=LIVE_STATUSES)
        return queryset.filter(status=value)

    def filter_mine(self, queryset, name, value):
        if value is None:
            return queryset
        kinds = registry.kinds_for_role(getattr(self.request.user, "role", None))
        return queryset.filter(kind__in=kinds) if value else queryset.exclude(kind__in=kinds)


class AlertListView(_KeyedCells, TablePageView):
    title = "Alerts"
    capability = "alerts.view"
    template_name = "alerts/list.html"
    filterset_class = AlertFilter
    export_name = "alerts"
    columns = [
        Column("id", "#", value=lambda a: f"#{a.pk}", link=_detail_link),
        Column(
            "severity",
            "Severity",
            value=lambda a: a.get_severity_display(),
            badge=lambda a: SEVERITY_TONE.get(a.severity, "neutral"),
        ),
        Column(
            "status",
            "Status",
            value=lambda a: a.get_status_display(),
            badge=lambda a: STATUS_TONE.get(a.status, "neutral"),
        ),
        Column("kind", "Kind", value=lambda a: a.kind_label),
        Column("title", "Title", link=_detail_link),
        Column("subject", "Subject", value=_subject_text, link=_subject_link),
        Column("raised_at", "Raised (UTC)", value=utc_of("raised_at")),
        Column("last_seen_at", "Last seen (UTC)", value=utc_of("last_seen_at")),
        Column("occurrences", "Seen", numeric=True),
        Column(
            "acknowledged_by", "Acknowledged by", value=_by("acknowledged_by", "acknowledged_at")
        ),
        Column("resolved_by", "Resolved by", value=_by("resolved_by", "resolved_at")),
    ]

    def get_queryset(self):
        return selectors.alerts_list()

    def filtered(self):
        """The list opens on the live alerts: no status in the query means "live", while an
        explicit empty status ("any status") shows every alert."""
        data = self.request.GET.copy()
        data.setdefault("status", LIVE)
        qs = self.get_queryset()
        self.filterset = self.filterset_class(data, queryset=qs, request=self.request)
        return self.filterset.qs if self.filterset.is_valid() else qs.none()

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        user = self.request.user
        mine = set(registry.kinds_for_role(user.role))
        for row in ctx["table_rows"]:
            alert = row["obj"]
            row["mine"] = alert.kind in mine
            row["critical"] = alert.severity == Severity.CRITICAL and alert.is_live
        ctx.update(
            can_act=can(user, "alerts.act"),
            next_url=self.request.get_full_path(),
            summary=selectors.alerts_summary(),
        )
        return ctx


# ---------------------------------------------------------------- one alert


class AlertDetailView(CapabilityRequiredMixin, TemplateView):
    capability = "alerts.view"
    template_name = "alerts/detail.html"

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        user = self.request.user
        alert = get_object_or_404(selectors.alert_detail(), pk=kwargs["pk"])
        deliveries = [
            {
                "obj": d,
                "target": delivery_target(d, user),
                "tone": DELIVERY_TONE.get(d.status, "neutral"),
                "attempts": list(d.attempt_log.all()),
            }
            for d in alert.deliveries.all()
        ]
        ctx.update(
            alert=alert,
            severity_tone=SEVERITY_TONE.get(alert.severity, "neutral"),
            status_tone=STATUS_TONE.get(alert.status, "neutral"),
            events=list(alert.events.all()),
            deliveries=deliveries,
            can_act=can(user, "alerts.act"),
            can_acknowledge=alert.status == AlertStatus.OPEN,
            can_resolve=alert.is_live,
            mine=alert.kind in registry.kinds_for_role(user.role),
            max_attempts=max_attempts(),
            next_url=self.request.get_full_path(),
            data_items=sorted((alert.data or {}).items()),
        )
        return ctx


def _acknowledge(user, alert_id, d, now) -> str:
    services.alert_acknowledge(alert_id=alert_id, user=user, now=now, note=d["note"])
    return f"Alert #{alert_id} acknowledged."


def _resolve(user, alert_id, d, now) -> str:
    services.alerts_resolve(alert_id=alert_id, user=user, now=now, note=d["note"])
    return f"Alert #{alert_id} resolved."


class AlertActionView(ActionView):
    """POST /alerts/<pk>/acknowledge/ or /resolve/ with an optional note, then back to the page
    it came from (`next`, on this site only) or the alert's page. The services read and lock
    the alert by its id."""

    capability = "alerts.act"
    actions = {
        "acknowledge": Action(NoteForm, "alerts.act", "Acknowledge", _acknowledge, prefix=""),
        "resolve": Action(NoteForm, "alerts.act", "Resolve", _resolve, prefix=""),
    }

    def get_object(self, pk: int) -> int:
        return pk

    def back_url(self, alert_id: int) -> str:
        back = self.request.POST.get("next") or ""
        if not url_has_allowed_host_and_scheme(
            back, allowed_hosts={self.request.get_host()}, require_https=self.request.is_secure()
        ):
            back = ""
        return back or reverse("alerts:detail", args=[alert_id])


# ---------------------------------------------------------------- deliveries


class DeliveryFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=DeliveryStatus.choices, empty_label="any status")
    channel = django_filters.ChoiceFilter(choices=Channel.choices, empty_label="any channel")
    kind = django_filters.ChoiceFilter(
        field_name="alert__kind", choices=kind_choices, empty_label="any kind"
    )
    alert = django_filters.NumberFilter(field_name="alert_id", label="Alert #")

    class Meta:
        model = AlertDelivery
        fields = []


class DeliveryLogView(_KeyedCells, TablePageView):
    title = "Alert deliveries"
    capability = "alerts.view"
    template_name = "alerts/deliveries.html"
    filterset_class = DeliveryFilter
    export_name = "alert-deliveries"

    def get_columns(self) -> list[Column]:
        user = self.request.user
        limit = max_attempts()
        return [
            Column("id", "Delivery", value=lambda d: f"#{d.pk}"),
            Column(
                "alert",
                "Alert",
                value=lambda d: f"#{d.alert_id} {d.alert.title}",
                link=lambda d: reverse("alerts:detail", args=[d.alert_id]),
            ),
            Column("kind", "Kind", value=lambda d: d.alert.kind_label),
            Column("channel", "Channel", value=lambda d: d.get_channel_display()),
            Column("target", "To", value=lambda d: delivery_target(d, user)),
            Column(
                "status",
                "Status",
                value=lambda d: d.get_status_display(),
                badge=lambda d: DELIVERY_TONE.get(d.status, "neutral"),
            ),
            Column("attempts", "Attempts", value=lambda d: f"{d.attempts}/{limit}", numeric=True),
            Column("next_attempt_at", "Next attempt (UTC)", value=utc_of("next_attempt_at")),
            Column("delivered_at", "Delivered (UTC)", value=utc_of("delivered_at")),
            Column("last_error", "Last error"),
            Column("attempt_log", "Attempt log (UTC)", value=attempts_text),
        ]

    def get_queryset(self):
        return selectors.deliveries_list()

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        for row in ctx["table_rows"]:
            row["failed"] = row["obj"].status == DeliveryStatus.FAILED
        return ctx


# ---------------------------------------------------------------- webhook endpoints


def _endpoint_url(e: WebhookEndpoint) -> str:
    return e.url


class WebhookListView(_KeyedCells, TablePageView):
    title = "Alert webhooks"
    capability = "alerts.configure"
    template_name = "alerts/webhooks.html"
    export_name = "alert-webhooks"
    columns = [
        Column("name", "Name"),
        Column("url", "URL", value=_endpoint_url),
        Column("kinds", "Kinds", value=lambda e: ", ".join(e.kinds) or "every kind"),
        Column("min_severity", "Minimum severity", value=lambda e: e.get_min_severity_display()),
        Column(
            "is_active",
            "Active",
            value=lambda e: "active" if e.is_active else "inactive",
            badge=lambda e: "ok" if e.is_active else "neutral",
        ),
        Column(
            "failed_deliveries",
            "Failed deliveries",
            numeric=True,
            badge=lambda e: "bad" if e.failed_deliveries else None,
        ),
        Column("created_by.username", "Added by"),
        Column("created_at", "Added (UTC)", value=utc_of("created_at")),
    ]

    def get_queryset(self):
        return selectors.webhook_endpoints_list()

    def get_context_data(self, form=None, **kwargs):
        ctx = super().get_context_data(**kwargs)
        ctx["form"] = form or WebhookEndpointForm(initial={"min_severity": Severity.INFO})
        ctx["settings_urls"] = [masked_url(u) for u in getattr(settings, "WEBHOOK_URLS", [])]
        ctx["settings_secret_set"] = bool(getattr(settings, "WEBHOOK_SECRET", ""))
        return ctx

    def post(self, request, *args, **kwargs):
        form = WebhookEndpointForm(request.POST)
        if form.is_valid():
            try:
                endpoint = services.webhook_endpoint_create(
                    actor=request.user, now=clock.now(), **form.cleaned_data
                )
            except DomainError as exc:
                placed = False
                for field, msgs in exc.errors.items():
                    for msg in msgs:
                        form.add_error(field if field in form.fields else None, msg)
                        placed = True
                if not placed:
                    form.add_error(None, exc.message)
            else:
                messages.success(request, f"Webhook endpoint {endpoint.name} added.")
                return redirect("alerts:webhooks")
        return self.render_to_response(self.get_context_data(form=form), status=400)


class WebhookToggleView(CapabilityRequiredMixin, View):
    capability = "alerts.configure"

    def post(self, request, pk: int):
        endpoint = get_object_or_404(WebhookEndpoint, pk=pk)
        try:
            services.webhook_endpoint_update(
                endpoint_id=pk,
                actor=request.user,
                now=clock.now(),
                is_active=not endpoint.is_active,
            )
        except DomainError as exc:
            messages.error(request, exc.message)
        else:
            state = "deactivated" if endpoint.is_active else "activated"
            messages.success(request, f"Webhook endpoint {endpoint.name} {state}.")
        return redirect("alerts:webhooks")
