"""Reference-data pages: lists (filter, export), details with history and KYC, forms."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect
from django.urls import reverse
from django.views.generic import FormView, TemplateView

from financing import clock
from financing.accounts.mixins import CapabilityRequiredMixin
from financing.accounts.roles import can
from financing.approvals.models import ApprovalRequest
from financing.dashboard.tables import Column, TablePageView
from financing.errors import DomainError
from financing.refdata import filters, forms, services
from financing.refdata.models import Asset, Counterparty, Desk, Venue

KYC_TONE = {"approved": "ok", "pending": "warn"}


def kyc_tone(cp) -> str:
    return KYC_TONE.get(cp.kyc_status, "bad")


def kyc_expiry(cp) -> str:
    if cp.kyc_expires_on is None:
        return ""
    days = (cp.kyc_expires_on - clock.business_date()).days
    when = f"in {days} d" if days >= 0 else f"{-days} d ago"
    return f"{cp.kyc_expires_on:%Y-%m-%d} ({when})"


@dataclass(frozen=True)
class Kind:
    name: str
    model: type
    key: str
    title: str
    form: type
    filterset: type
    create: Any
    update: Any
    manage: str
    columns: tuple[Column, ...]

    def url(self, view: str, obj=None) -> str:
        args = [getattr(obj, self.key)] if obj is not None else []
        return reverse(f"refdata:{self.name}-{view}", args=args)


def _link(kind_name: str, key: str):
    return lambda o: reverse(f"refdata:{kind_name}-detail", args=[getattr(o, key)])


KINDS: dict[str, Kind] = {
    "asset": Kind(
        "asset", Asset, "symbol", "Assets", forms.AssetForm, filters.AssetFilter,
        services.asset_create, services.asset_update, "refdata.manage",
        (
            Column("symbol", "Symbol", link=_link("asset", "symbol")),
            Column("name", "Name"),
            Column("decimals", "Decimals", numeric=True),
            Column("is_stablecoin", "Stablecoin"),
            Column("chains", "Chains"),
            Column("is_active", "Status", value=lambda o: "active" if o.is_active else "inactive",
                   badge=lambda o: "ok" if o.is_active else "neutral"),
        ),
    ),
    "venue": Kind(
        "venue", Venue, "code", "Venues", forms.VenueForm, filters.VenueFilter,
        services.venue_create, services.venue_update, "refdata.manage",
        (
            Column("code", "Code", link=_link("venue", "code")),
            Column("name", "Name"),
            Column("kind", "Type", value=lambda o: o.get_kind_display()),
            Column("status", "Status", value=lambda o: o.get_status_display(),
                   badge=lambda o: {"active": "ok", "suspended": "warn"}.get(o.status, "bad")),
        ),
    ),
    "desk": Kind(
        "desk", Desk, "code", "Desks", forms.DeskForm, filters.DeskFilter,
        services.desk_create, services.desk_update, "refdata.manage",
        (
            Column("code", "Code", link=_link("desk", "code")),
            Column("name", "Name"),
            Column("risk_profile", "Risk profile", value=lambda o: o.get_risk_profile_display()),
        ),
    ),
    "counterparty": Kind(
        "counterparty", Counterparty, "code", "Counterparties", forms.CounterpartyForm,
        filters.CounterpartyFilter, services.counterparty_create, services.counterparty_update,
        "counterparty.manage",
        (
            Column("code", "Code", link=_link("counterparty", "code")),
            Column("name", "Legal name"),
            Column("kind", "Type", value=lambda o: o.get_kind_display()),
            Column("jurisdiction", "Jurisdiction"),
            Column("risk_rating", "Risk", value=lambda o: o.get_risk_rating_display()),
            Column("kyc_status", "KYC", value=lambda o: o.get_kyc_status_display(), badge=kyc_tone),
            Column("kyc_expires_on", "KYC expires", value=kyc_expiry),
        ),
    ),
}


def _kind(name: str) -> Kind:
    return KINDS[name]


class RefListView(TablePageView):
    capability = "refdata.view"
    kind_name = ""
    template_name = "refdata/list.html"

    @property
    def kind(self) -> Kind:
        return _kind(self.kind_name)

    @property
    def title(self):
        return self.kind.title

    @property
    def export_name(self):
        return self.kind.name + "s"

    @property
    def filterset_class(self):
        return self.kind.filterset

    def get_columns(self):
        return list(self.kind.columns)

    def get_queryset(self):
        return self.kind.model.objects.order_by(self.kind.key)

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        if can(self.request.user, self.kind.manage):
            ctx["create_url"] = self.kind.url("create")
            ctx["create_label"] = f"New {self.kind.model._meta.verbose_name}"
        return ctx


class RefDetailView(CapabilityRequiredMixin, TemplateView):
    capability = "refdata.view"
    kind_name = ""
    template_name = "refdata/detail.html"

    def get_object(self):
        kind = _kind(self.kind_name)
        key = str(self.kwargs["key"]).upper()
        try:
            return kind.model.objects.get(**{kind.key: key})
        except kind.model.DoesNotExist:
            raise Http404(f"No {kind.model._meta.verbose_name} {key}") from None

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        kind = _kind(self.kind_name)
        obj = kwargs.get("obj") or self.get_object()
        user = self.request.user
        rows = []
        for field in kind.model._meta.fields:
            if field.name == "id":
                continue
            value = getattr(obj, field.name)
            display = getattr(obj, f"get_{field.name}_display", None)
            if display:
                value = display()
            rows.append((field.verbose_name, value))
        ctx.update(
            kind=kind, obj=obj, rows=rows,
            verbose_name=kind.model._meta.verbose_name,
            edit_url=kind.url("edit", obj) if can(user, kind.manage) else None,
            list_url=kind.url("list"),
            history_url=reverse(
                "audit:record", args=[obj._meta.app_label, obj._meta.model_name, obj.pk]
            ) if can(user, "audit.view") else None,
        )
        if isinstance(obj, Counterparty):
            ctx.update(
                kyc_tone=kyc_tone(obj),
                kyc_expiry=kyc_expiry(obj),
                kyc_pending=ApprovalRequest.objects.filter(
                    action="counterparty.kyc_change", target_id=str(obj.pk), status="pending"
                ).select_related("maker"),
                kyc_form=kwargs.get("kyc_form") or forms.KycChangeForm(),
                can_request_kyc=can(user, "counterparty.kyc"),
                can_transact=obj.kyc_is_current(clock.business_date()) and obj.is_active,
            )
        return ctx


class RefFormView(CapabilityRequiredMixin, FormView):
    kind_name = ""
    editing = False
    template_name = "refdata/form.html"

    @property
    def kind(self) -> Kind:
        return _kind(self.kind_name)

    @property
    def capability(self):
        return self.kind.manage

    def get_object(self):
        key = str(self.kwargs["key"]).upper()
        try:
            return self.kind.model.objects.get(**{self.kind.key: key})
        except self.kind.model.DoesNotExist:
            raise Http404(key) from None

    def get_form_class(self):
        return self.kind.form

    def get_form(self, form_class=None):
        form = super().get_form(form_class)
        if self.editing:
            form.fields[self.kind.key].disabled = True
        return form

    def get_initial(self):
        if not self.editing:
            return {}
        obj = self.get_object()
        initial = {name: getattr(obj, name, None) for name in self.kind.form.base_fields}
        if isinstance(obj, Asset):
            initial["chains"] = ", ".join(obj.chains)
        return initial

    def form_valid(self, form):
        data = dict(form.cleaned_data)
        reason = data.pop("reason", "")
        key = data.pop(self.kind.key)
        try:
            if self.editing:
                obj = self.get_object()
                obj = self.kind.update(
                    actor=self.request.user, reason=reason, **{self.kind.name: obj}, **data
                )
            else:
                obj = self.kind.create(
                    actor=self.request.user, reason=reason, **{self.kind.key: key}, **data
                )
        except DomainError as exc:
            for field, msgs in (exc.errors or {"detail": [exc.message]}).items():
                target = field if field in form.fields else None
                for m in msgs:
                    form.add_error(target, m)
            return self.form_invalid(form)
        verb = "updated" if self.editing else "created"
        messages.success(self.request, f"{self.kind.model._meta.verbose_name} {obj} {verb}.")
        return redirect(self.kind.url("detail", obj))

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        name = self.kind.model._meta.verbose_name
        ctx.update(
            heading=(f"Edit {name} {self.get_object()}" if self.editing else f"New {name}"),
            cancel_url=self.kind.url("list"),
        )
        return ctx


class CounterpartyKycView(RefDetailView):
    """POST: compliance asks for a KYC change; it takes effect when another user approves."""

    kind_name = "counterparty"
    capability = "refdata.view"
    post_capability = "counterparty.kyc"

    def post(self, request, *args, **kwargs):
        cp = self.get_object()
        form = forms.KycChangeForm(request.POST)
        if form.is_valid():
            try:
                approval = services.counterparty_kyc_change_request(
                    actor=request.user, counterparty=cp, now=clock.now(), **form.cleaned_data
                )
            except DomainError as exc:
                for field, msgs in (exc.errors or {"detail": [exc.message]}).items():
                    for m in msgs:
                        form.add_error(field if field in form.fields else None, m)
            else:
                messages.success(
                    request, f"KYC change sent for approval (#{approval.pk}); it takes effect "
                    "when another compliance user approves it."
                )
                return redirect("refdata:counterparty-detail", cp.code)
        ctx = self.get_context_data(obj=cp, kyc_form=form)
        return self.render_to_response(ctx, status=400)

    def get(self, request, *args, **kwargs):
        return redirect("refdata:counterparty-detail", self.kwargs["key"])
