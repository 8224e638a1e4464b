"""Borrow-desk pages: the trading desks' portal, the operations queue, a request's page with its
actions, the list of all requests and the inventory. Every action posts to a view that calls the
same service as the API (loans/desk/services.py); a trading user sees only its own desk's requests on
every page and in every export."""

from __future__ import annotations

from datetime import UTC, timedelta
from decimal import ROUND_HALF_EVEN, Decimal

import django_filters
from django import forms
from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.utils import timezone
from django.views.generic import TemplateView

from financing import clock
from financing.accounts.mixins import CapabilityRequiredMixin
from financing.accounts.roles import can
from financing.dashboard.actions import Action, ActionView, available_actions
from financing.dashboard.display import amount, apply_domain_error, pct
from financing.dashboard.tables import Column, TablePageView
from financing.errors import DomainError
from financing.money import format_amount
from financing.refdata.models import Asset, Counterparty, Desk
from loans.desk import services
from loans.desk.forecast import demand_forecast
from loans.desk.models import OPEN_STATUSES, BorrowRequest, RequestStatus, Urgency
from loans.desk.selectors import (
    inventory,
    is_trading,
    requests_for_pages,
    requests_open,
    requests_past_sla,
)
from loans.models import DayCount
from loans.views import STATUS_TONE as LOAN_TONE
from treasury.selectors import lendable_history

REQUEST_TONE = {
    RequestStatus.SUBMITTED: "warn",
    RequestStatus.PARTIALLY_ALLOCATED: "warn",
    RequestStatus.ALLOCATED: "ok",
    RequestStatus.BOOKED: "ok",
    RequestStatus.REJECTED: "bad",
    RequestStatus.CANCELLED: "neutral",
    RequestStatus.EXPIRED: "neutral",
}
URGENCY_TONE = {"low": "neutral", "normal": "neutral", "high": "warn", "critical": "bad"}


def sla_state(r: BorrowRequest, now) -> dict:
    """The SLA clock as a page shows it: counting down until the first response, then how long
    the response took; breached when the response came (or is still missing) after the due time."""
    if r.first_response_at:
        minutes = max(0, round((r.first_response_at - r.created_at).total_seconds() / 60))
        return {
            "state": "responded",
            "minutes": minutes,
            "breached": r.first_response_at > r.sla_due_at,
        }
    if r.status in OPEN_STATUSES:
        return {"state": "pending", "breached": now > r.sla_due_at}
    return {"state": "closed", "breached": False}


def decorate(rows, now, *, user) -> list[BorrowRequest]:
    """Display attributes for request rows (no queries: relations are selected)."""
    see_loans = can(user, "loans.view")
    out = []
    for r in rows:
        r.sla = sla_state(r, now)
        r.tone = REQUEST_TONE.get(r.status, "neutral")
        r.urgency_tone = URGENCY_TONE.get(r.urgency, "neutral")
        r.quantity_text = amount(r.quantity, r.asset)
        r.allocated_text = amount(r.allocated_quantity, r.asset)
        r.sourced_text = amount(r.sourced_quantity, r.asset)
        r.remaining_text = amount(r.remaining, r.asset)
        r.rate_text = pct(r.max_rate)
        r.is_open = r.status in OPEN_STATUSES
        r.loan_tone = LOAN_TONE.get(r.loan.status, "neutral") if r.loan_id else None
        r.loan_url = reverse("loans:detail", args=[r.loan_id]) if r.loan_id and see_loans else None
        r.external_url = (
            reverse("loans:detail", args=[r.external_loan_id])
            if r.external_loan_id and see_loans
            else None
        )
        out.append(r)
    return out


class StaffOnlyMixin:
    """Pages for the desk's operators: any staff role may look, a trading desk may not."""

    def dispatch(self, request, *args, **kwargs):
        if request.user.is_authenticated and is_trading(request.user):
            raise PermissionDenied("The borrow queue is for operations.")
        return super().dispatch(request, *args, **kwargs)


# ---------------------------------------------------------------- forms

UTC_INPUT_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S"]


class SubmitForm(forms.Form):
    asset = forms.ModelChoiceField(
        queryset=Asset.objects.filter(is_active=True).order_by("symbol"), to_field_name="symbol"
    )
    quantity = forms.DecimalField(max_digits=38, decimal_places=18)
    max_rate = forms.DecimalField(
        label="Max rate", max_digits=38, decimal_places=10, help_text="Yearly fraction: 0.08 = 8%"
    )
    tenor_days = forms.IntegerField(
        label="Tenor (days)", required=False, help_text="Blank for an open term"
    )
    needed_by = forms.DateTimeField(
        label="Needed by (UTC)",
        input_formats=UTC_INPUT_FORMATS,
        widget=forms.DateTimeInput(format="%Y-%m-%dT%H:%M", attrs={"type": "datetime-local"}),
    )
    urgency = forms.ChoiceField(choices=Urgency.choices, initial=Urgency.NORMAL)
    expected_revenue_usd = forms.DecimalField(
        label="Expected revenue (USD)", max_digits=38, decimal_places=2
    )
    purpose = forms.CharField(max_length=500, widget=forms.Textarea(attrs={"rows": 2}))
    counterparty = forms.ModelChoiceField(
        label="Client counterparty",
        queryset=Counterparty.objects.filter(is_active=True).order_by("code"),
        to_field_name="code",
        required=False,
        help_text="Who the asset goes to; operations can name it when booking",
    )

    def clean_needed_by(self):
        # The page says UTC whatever the server's zone: read the wall time as UTC.
        value = self.cleaned_data["needed_by"]
        if timezone.is_aware(value):
            value = timezone.make_naive(value)
        return value.replace(tzinfo=UTC)


class AllocateForm(forms.Form):
    quantity = forms.DecimalField(
        max_digits=38, decimal_places=18, required=False, help_text="Blank: all that remains"
    )


class BookForm(forms.Form):
    rate = forms.DecimalField(
        max_digits=38, decimal_places=10, required=False, help_text="Blank: the desk's max rate"
    )
    counterparty = forms.ModelChoiceField(
        queryset=Counterparty.objects.filter(is_active=True).order_by("code"),
        to_field_name="code",
        required=False,
        help_text="The client the loan is booked with",
    )
    day_count = forms.ChoiceField(choices=DayCount.choices, initial=DayCount.ACT_360)
    external_lender = forms.ModelChoiceField(
        queryset=Counterparty.objects.filter(is_active=True).order_by("code"),
        to_field_name="code",
        required=False,
        help_text="Borrow the unallocated remainder from this lender",
    )
    external_rate = forms.DecimalField(max_digits=38, decimal_places=10, required=False)


class ReasonForm(forms.Form):
    reason = forms.CharField(max_length=500)


class OptionalReasonForm(forms.Form):
    reason = forms.CharField(max_length=500, required=False)


def _do_allocate(user, r, d, now):
    r = services.borrow_request_allocate(actor=user, request=r, now=now, quantity=d["quantity"])
    return f"{r.reference}: {amount(r.allocated_quantity, r.asset)} allocated ({r.status})."


def _do_book(user, r, d, now):
    r = services.borrow_request_book(actor=user, request=r, now=now, **d)
    loans = ", ".join(f"L{pk}" for pk in (r.loan_id, r.external_loan_id) if pk)
    return f"{r.reference} booked as {loans}, pending approval by another user."


def _do_reject(user, r, d, now):
    services.borrow_request_reject(actor=user, request=r, now=now, reason=d["reason"])
    return f"{r.reference} rejected."


def _do_cancel(user, r, d, now):
    services.borrow_request_cancel(actor=user, request=r, now=now, reason=d["reason"])
    return f"{r.reference} cancelled."


def _is_open(r, user) -> bool:
    return r.status in OPEN_STATUSES


def _may_cancel(r, user) -> bool:
    # The requesting desk or operations; the service checks it is the desk's own request.
    return _is_open(r, user) and (can(user, "borrow.work") or is_trading(user))


ACTIONS = {
    "allocate": Action(AllocateForm, "borrow.work", "Allocate", _do_allocate, _is_open),
    "book": Action(BookForm, "borrow.work", "Book", _do_book, _is_open),
    "reject": Action(ReasonForm, "borrow.work", "Reject", _do_reject, _is_open),
    "cancel": Action(OptionalReasonForm, "borrow.view", "Cancel", _do_cancel, _may_cancel),
}


# ---------------------------------------------------------------- portal


class PortalView(CapabilityRequiredMixin, TemplateView):
    """A trading desk submits requests and watches its own."""

    capability = "borrow.submit"
    template_name = "desk/portal.html"
    recent_closed = 20

    def get_context_data(self, form=None, **kwargs):
        ctx = super().get_context_data(**kwargs)
        now = clock.now()
        user = self.request.user
        if form is None:
            start = (now + timedelta(hours=24)).replace(minute=0, second=0, microsecond=0)
            form = SubmitForm(initial={"needed_by": start.replace(tzinfo=None)})
        mine = requests_for_pages(user)
        open_rows = list(mine.filter(status__in=OPEN_STATUSES).order_by("-priority", "needed_by"))
        closed = list(
            mine.exclude(status__in=OPEN_STATUSES).order_by("-updated_at", "-id")[
                : self.recent_closed
            ]
        )
        ctx.update(
            form=form,
            open_rows=decorate(open_rows, now, user=user),
            closed_rows=decorate(closed, now, user=user),
            now=now,
            sla_minutes=settings.BORROW_SLA_MINUTES,
        )
        return ctx

    def post(self, request, *args, **kwargs):
        form = SubmitForm(request.POST)
        if form.is_valid():
            try:
                r = services.borrow_request_submit(
                    actor=request.user, now=clock.now(), **form.cleaned_data
                )
            except DomainError as exc:
                apply_domain_error(form, exc)
            else:
                messages.success(
                    request,
                    f"{r.reference} submitted: priority {r.priority}, first response due "
                    f"{r.sla_due_at:%H:%M} UTC.",
                )
                return redirect("desk:portal")
        return self.render_to_response(self.get_context_data(form=form), status=400)


# ---------------------------------------------------------------- operations


class QueueView(StaffOnlyMixin, CapabilityRequiredMixin, TemplateView):
    """Open requests, highest priority first, with the inventory each could draw on."""

    capability = "borrow.view"
    template_name = "desk/queue.html"
    paginate_by = 50

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        now = clock.now()
        user = self.request.user
        qs = (
            requests_for_pages(user)
            .filter(status__in=OPEN_STATUSES)
            .order_by("-priority", "needed_by", "id")
        )
        page = Paginator(qs, self.paginate_by).get_page(self.request.GET.get("page"))
        rows = decorate(list(page.object_list), now, user=user)
        inv = inventory(sorted({r.asset_id for r in rows})) if rows else {}
        for r in rows:
            available = inv.get(r.asset_id, {}).get("available")
            r.available_text = amount(available, r.asset)
            r.short = available is not None and available < r.remaining
        ctx.update(
            rows=rows,
            page_obj=page,
            now=now,
            open_count=page.paginator.count,
            breached_count=requests_past_sla(now, requests_open()).count(),
            can_work=can(user, "borrow.work"),
        )
        return ctx


class RequestDetailView(CapabilityRequiredMixin, TemplateView):
    capability = "borrow.view"
    template_name = "desk/request.html"

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        now = clock.now()
        user = self.request.user
        r = get_object_or_404(requests_for_pages(user), pk=kwargs["pk"])
        decorate([r], now, user=user)
        inv = inventory([r.asset_id]).get(r.asset_id, {})
        actions = available_actions(
            ACTIONS,
            r,
            user,
            initial={"rate": format_amount(r.max_rate), "counterparty": r.counterparty},
            url=lambda name: reverse("desk:request-action", args=[r.pk, name]),
        )
        see_loans = can(user, "loans.view")
        allocations = list(r.allocations.select_related("loan", "created_by"))
        for a in allocations:
            a.quantity_text = amount(a.quantity, r.asset)
            a.loan_url = (
                reverse("loans:detail", args=[a.loan_id]) if a.loan_id and see_loans else None
            )
        ctx.update(
            r=r,
            now=now,
            inventory={k: amount(v, r.asset) for k, v in inv.items() if k != "utilization"},
            utilization=pct(inv.get("utilization")),
            allocations=allocations,
            events=list(r.events.select_related("actor")),
            actions=actions,
            back_url=reverse("desk:portal" if is_trading(user) else "desk:queue"),
        )
        return ctx


class RequestActionView(ActionView):
    capability = "borrow.view"
    actions = ACTIONS

    def get_object(self, pk: int):
        return get_object_or_404(requests_for_pages(self.request.user), pk=pk)

    def back_url(self, obj) -> str:
        if self.request.POST.get("next") == "portal" and is_trading(self.request.user):
            return reverse("desk:portal")
        return reverse("desk:request", args=[obj.pk])


# ---------------------------------------------------------------- the list of all requests


class RequestPageFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=RequestStatus.choices, empty_label="any status")
    desk = django_filters.ModelChoiceFilter(
        queryset=Desk.objects.order_by("code"), to_field_name="code", empty_label="any"
    )
    asset = django_filters.ModelChoiceFilter(
        queryset=Asset.objects.order_by("symbol"), to_field_name="symbol", empty_label="any"
    )
    urgency = django_filters.ChoiceFilter(choices=Urgency.choices, empty_label="any urgency")

    class Meta:
        model = BorrowRequest
        fields = []

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        user = getattr(self.request, "user", None)
        if is_trading(user):  # another desk's code is not a trading user's business
            self.filters["desk"].queryset = Desk.objects.filter(pk=user.desk_id)


def _request_link(r: BorrowRequest) -> str:
    return reverse("desk:request", args=[r.pk])


def _sla_text(r: BorrowRequest) -> str:
    s = sla_state(r, clock.now())
    if s["state"] == "responded":
        return f"responded in {s['minutes']} min" + (" (late)" if s["breached"] else "")
    if s["state"] == "pending":
        return "breached" if s["breached"] else f"due {r.sla_due_at:%Y-%m-%d %H:%M} UTC"
    return ""


class RequestListView(TablePageView):
    title = "Borrow requests"
    capability = "borrow.view"
    template_name = "desk/requests.html"
    filterset_class = RequestPageFilter
    export_name = "borrow-requests"
    columns = [
        Column("reference", "Request", link=_request_link),
        Column(
            "status",
            "Status",
            value=lambda r: r.get_status_display(),
            badge=lambda r: REQUEST_TONE.get(r.status, "neutral"),
        ),
        Column("desk.code", "Desk"),
        Column("asset.symbol", "Asset"),
        Column("quantity", "Quantity", value=lambda r: amount(r.quantity, r.asset), numeric=True),
        Column(
            "allocated_quantity",
            "Allocated",
            value=lambda r: amount(r.allocated_quantity, r.asset),
            numeric=True,
        ),
        Column(
            "sourced_quantity",
            "Sourced",
            value=lambda r: amount(r.sourced_quantity, r.asset),
            numeric=True,
        ),
        Column("max_rate", "Max rate", value=lambda r: pct(r.max_rate), numeric=True),
        Column(
            "tenor_days", "Tenor", value=lambda r: f"{r.tenor_days} d" if r.tenor_days else "open"
        ),
        Column(
            "urgency",
            "Urgency",
            value=lambda r: r.get_urgency_display(),
            badge=lambda r: URGENCY_TONE.get(r.urgency, "neutral"),
        ),
        Column("priority", "Priority", numeric=True),
        Column("needed_by", "Needed by"),
        Column("sla", "SLA", value=_sla_text),
        Column("requested_by.username", "Requested by"),
        Column("counterparty.code", "Client"),
        Column(
            "loan",
            "Loan",
            value=lambda r: r.loan.reference if r.loan_id else "",
        ),
        Column("created_at", "Submitted"),
    ]

    def get_queryset(self):
        return requests_for_pages(self.request.user).order_by("-created_at", "-id")

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        ctx["is_trading"] = is_trading(self.request.user)
        return ctx


# ---------------------------------------------------------------- inventory


class InventoryView(TablePageView):
    """Per asset: lendable, buffer, allocated, on loan, available, utilization; the daily
    lendable history. A `forecast` context entry (desk_forecast.demand_forecast's rows:
    asset, method, forecast [{date, quantity}], forecast_total, backtest_days,
    backtest_wape_pct) is shown in the template's forecast block when present."""

    title = "Lendable inventory"
    capability = "inventory.view"
    template_name = "desk/inventory.html"
    export_name = "inventory"
    paginate_by = 500
    history_days = 30
    columns = [
        Column("asset", "Asset"),
        Column("lendable", "Lendable", value=lambda i: i["lendable_text"], numeric=True),
        Column("buffer", "Buffer", value=lambda i: i["buffer_text"], numeric=True),
        Column("allocated", "Allocated", value=lambda i: i["allocated_text"], numeric=True),
        Column("on_loan", "On loan", value=lambda i: i["on_loan_text"], numeric=True),
        Column("available", "Available", value=lambda i: i["available_text"], numeric=True),
        Column("shortfall", "Shortfall", value=lambda i: i["shortfall_text"], numeric=True),
        Column("utilization", "Utilization", value=lambda i: pct(i["utilization"]), numeric=True),
    ]

    def get_queryset(self):
        if not hasattr(self, "_rows"):
            assets = {a.pk: a for a in Asset.objects.filter(is_active=True).order_by("symbol")}
            inv = inventory(list(assets))
            rows = []
            for pk, a in assets.items():
                figures = inv.get(pk)
                if figures is None:
                    continue
                row = {"asset": a.symbol, **figures}
                for key in ("lendable", "buffer", "allocated", "on_loan", "available", "shortfall"):
                    row[f"{key}_text"] = amount(figures[key], a)
                total = figures["lendable"]
                hundredth = Decimal("0.01")
                row["shares"] = {
                    key: (min(max(figures[key] / total, 0), 1) * 100).quantize(hundredth)
                    if total > 0
                    else Decimal(0)
                    for key in ("on_loan", "allocated", "buffer", "available")
                }
                row["utilization_pct"] = (
                    (figures["utilization"] * 100).quantize(hundredth)
                    if figures["utilization"] is not None
                    else Decimal(0)
                )
                rows.append(row)
            self._rows = rows
        return self._rows

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        rows = self.get_queryset()
        history = lendable_history(self.history_days, now=clock.now())
        symbols = sorted(history["assets"])
        history_rows = [
            {"day": day, "values": [history["assets"][s][i] for s in symbols]}
            for i, day in enumerate(history["days"])
        ]
        ctx.update(
            inventory_rows=rows,
            chart={
                "labels": [r["asset"] for r in rows],
                **{
                    k: [round(r["shares"][k], 2) for r in rows]
                    for k in ("on_loan", "allocated", "buffer", "available")
                },
            },
            history_symbols=symbols,
            history_rows=list(reversed(history_rows)),
            history_days=self.history_days,
            forecast=_forecast_for_display(demand_forecast(now=clock.now())),
        )
        return ctx


def _forecast_for_display(rows: list[dict]) -> list[dict]:
    """A forecast is an estimate: the page shows at most 4 decimals (the API gives the asset's
    full precision)."""
    places = Decimal("0.0001")

    def short(x: Decimal) -> Decimal:
        return x.quantize(places, rounding=ROUND_HALF_EVEN) if x.as_tuple().exponent < -4 else x

    return [
        {
            **r,
            "forecast_total": short(r["forecast_total"]),
            "forecast": [{**f, "quantity": short(f["quantity"])} for f in r["forecast"]],
        }
        for r in rows
    ]
