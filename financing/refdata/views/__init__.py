"""Reference-data pages: lists (filters, CSV/XLSX export), details with history and KYC, forms.

One set of views serves the four kinds of record (assets, venues, desks, counterparties); a
`Kind` (views/kinds.py) says what differs. Every write goes through
`financing.refdata.services`.
"""

from __future__ import annotations

from datetime import date

from django.contrib import messages
from django.contrib.contenttypes.models import ContentType
from django.db.models import CharField, OuterRef, Subquery
from django.db.models.functions import Cast
from django.http import Http404
from django.shortcuts import redirect
from django.urls import NoReverseMatch, reverse
from django.views.generic import FormView, TemplateView

from financing import clock
from financing.accounts.mixins import CapabilityRequiredMixin
from financing.accounts.roles import can
from financing.approvals.models import ApprovalRequest
from financing.dashboard.tables import Column, TablePageView, display
from financing.errors import DomainError
from financing.refdata import forms, services
from financing.refdata.models import Asset, Counterparty
from financing.refdata.views.kinds import (
    KINDS,
    KYC_CHANGE,
    Kind,
    kyc_expiry_text,
    kyc_expiry_tone,
    kyc_tone,
)

__all__ = ["CounterpartyKycView", "RefDetailView", "RefFormView", "RefListView"]


def history_url(user, obj) -> str | None:
    """The record's audit timeline, for roles that may read it."""
    if not can(user, "audit.view"):
        return None
    try:
        return reverse("audit:record", args=[obj._meta.app_label, obj._meta.model_name, obj.pk])
    except NoReverseMatch:
        return None


def show_domain_error(request, form, exc: DomainError) -> None:
    """Field errors next to their field; anything else as an error message on the page."""
    shown = False
    for field, msgs in (exc.errors or {}).items():
        for msg in msgs:
            if field in form.fields:
                form.add_error(field, msg)
            else:
                messages.error(request, msg)
            shown = True
    if not shown:
        messages.error(request, exc.message)


class KindMixin:
    kind_name = ""

    @property
    def kind(self) -> Kind:
        return KINDS[self.kind_name]

    def get_object(self):
        kind = self.kind
        key = str(self.kwargs["key"]).strip().upper()
        try:
            return kind.model.objects.get(**{kind.key: key})
        except kind.model.DoesNotExist:
            raise Http404(f"No {kind.verbose_name} {key}.") from None


class RefListView(KindMixin, TablePageView):
    capability = "refdata.view"
    template_name = "refdata/list.html"

    @property
    def title(self) -> str:
        return self.kind.title

    @property
    def export_name(self) -> str:
        return self.kind.title.lower()

    @property
    def filterset_class(self):
        return self.kind.filterset

    def get_columns(self) -> list[Column]:
        columns = self.kind.columns(self.kind, clock.business_date())
        if not can(self.request.user, "approvals.view"):
            columns = [c for c in columns if c.key != "pending_kyc_approval"]
        return columns

    def rows(self, page_rows):
        """On screen the KYC expiry also says how many days are left; exports keep the date."""
        rows = super().rows(page_rows)
        if self.kind.model is Counterparty:
            today = clock.business_date()
            keys = [c.key for c in self.get_columns()]
            index = keys.index("kyc_expires_on")
            for row in rows:
                row["cells"][index]["text"] = kyc_expiry_text(row["obj"], today)
        return rows

    def get_queryset(self):
        qs = self.kind.model.objects.order_by(self.kind.key)
        if self.kind.model is Counterparty:
            pending = ApprovalRequest.objects.filter(
                action=KYC_CHANGE,
                status=ApprovalRequest.Status.PENDING,
                target_type=ContentType.objects.get_for_model(Counterparty),
                target_id=Cast(OuterRef("pk"), output_field=CharField()),
            ).order_by("-created_at", "-id")
            qs = qs.annotate(pending_kyc_approval=Subquery(pending.values("pk")[:1]))
        return qs

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        ctx["intro"] = self.kind.intro
        if can(self.request.user, self.kind.manage):
            ctx["create_url"] = self.kind.url("create")
            ctx["create_label"] = f"New {self.kind.verbose_name}"
        return ctx


class RefDetailView(KindMixin, CapabilityRequiredMixin, TemplateView):
    capability = "refdata.view"
    template_name = "refdata/detail.html"

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        kind = self.kind
        obj = kwargs.get("obj") or self.get_object()
        user = self.request.user
        today = clock.business_date()
        rows = [
            {
                "label": f.label,
                "text": display(f.value(obj, today)),
                "tone": f.tone(obj, today) if f.tone else None,
                "mono": f.mono,
            }
            for f in kind.fields
        ]
        ctx.update(
            kind=kind,
            obj=obj,
            rows=rows,
            verbose_name=kind.verbose_name,
            edit_url=kind.url("edit", obj) if can(user, kind.manage) else None,
            list_url=kind.url("list"),
            list_title=kind.title,
            history_url=history_url(user, obj),
        )
        if isinstance(obj, Counterparty):
            ctx.update(self.kyc_context(obj, today, kwargs.get("kyc_form")))
        return ctx

    def kyc_context(self, cp: Counterparty, today: date, kyc_form) -> dict:
        user = self.request.user
        pending = (
            ApprovalRequest.objects.filter(
                action=KYC_CHANGE,
                status=ApprovalRequest.Status.PENDING,
                target_type=ContentType.objects.get_for_model(Counterparty),
                target_id=str(cp.pk),
            )
            .select_related("maker")
            .order_by("-created_at", "-id")
        )
        may_request = can(user, "counterparty.kyc")
        return {
            "is_counterparty": True,
            "kyc_tone": kyc_tone(cp),
            "kyc_expiry": kyc_expiry_text(cp, today),
            "kyc_expiry_tone": kyc_expiry_tone(cp, today),
            "kyc_pending": list(pending),
            "can_view_approvals": can(user, "approvals.view"),
            "can_request_kyc": may_request,
            "kyc_form": (kyc_form or forms.KycChangeForm()) if may_request else None,
            "can_transact": cp.is_active and cp.kyc_is_current(today),
        }


class RefFormView(KindMixin, CapabilityRequiredMixin, FormView):
    """New and edit. On edit the code is not a field: it never changes."""

    editing = False
    template_name = "refdata/form.html"

    @property
    def capability(self) -> str:
        return self.kind.manage

    def dispatch(self, request, *args, **kwargs):
        self.object = None
        if self.editing and request.user.is_authenticated and can(request.user, self.kind.manage):
            self.object = self.get_object()
        return super().dispatch(request, *args, **kwargs)

    def get_form_class(self):
        return self.kind.form

    def get_form_kwargs(self):
        kwargs = super().get_form_kwargs()
        kwargs["editing"] = self.editing
        return kwargs

    def get_initial(self):
        if self.object is None:
            return {}
        initial = {
            name: getattr(self.object, name)
            for name in self.kind.form.base_fields
            if name not in ("reason", self.kind.key)
        }
        if isinstance(self.object, Asset):
            initial["chains"] = ", ".join(self.object.chains)
        return initial

    def form_valid(self, form):
        data = dict(form.cleaned_data)
        reason = data.pop("reason", "")
        user = self.request.user
        try:
            if self.editing:
                changed = {k: v for k, v in data.items() if k in form.changed_data}
                if not changed:
                    messages.info(self.request, "Nothing changed.")
                    return redirect(self.kind.url("detail", self.object))
                obj = self.kind.update(
                    actor=user, reason=reason, **{self.kind.name: self.object}, **changed
                )
            else:
                key = data.pop(self.kind.key)
                obj = self.kind.create(actor=user, reason=reason, **{self.kind.key: key}, **data)
        except DomainError as exc:
            show_domain_error(self.request, form, exc)
            return self.form_invalid(form)
        verb = "updated" if self.editing else "created"
        messages.success(self.request, f"{self.kind.verbose_name.capitalize()} {obj} {verb}.")
        return redirect(self.kind.url("detail", obj))

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        name = self.kind.verbose_name
        if self.editing:
            heading = f"Edit {name} {self.object}"
            cancel_url = self.kind.url("detail", self.object)
        else:
            heading = f"New {name}"
            cancel_url = self.kind.url("list")
        ctx.update(
            kind=self.kind,
            obj=self.object,
            heading=heading,
            cancel_url=cancel_url,
            is_counterparty=self.kind.model is Counterparty,
        )
        return ctx


class CounterpartyKycView(RefDetailView):
    """POST: compliance asks for a KYC change; it takes effect when another user approves."""

    kind_name = "counterparty"
    capability = "refdata.view"
    post_capability = "counterparty.kyc"

    def get(self, request, *args, **kwargs):
        return redirect("refdata:counterparty-detail", self.get_object().code)

    def post(self, request, *args, **kwargs):
        cp = self.get_object()
        form = forms.KycChangeForm(request.POST)
        if form.is_valid():
            try:
                approval = services.counterparty_kyc_change_request(
                    actor=request.user,
                    counterparty=cp,
                    kyc_status=form.cleaned_data["kyc_status"],
                    kyc_expires_on=form.cleaned_data["kyc_expires_on"],
                    reason=form.cleaned_data["reason"],
                    now=clock.now(),
                )
            except DomainError as exc:
                show_domain_error(request, form, exc)
            else:
                messages.success(
                    request,
                    f"KYC change sent for approval (#{approval.pk}). It takes effect when "
                    "another compliance user approves it.",
                )
                return redirect("refdata:counterparty-detail", cp.code)
        # The POST went to the KYC action URL and was refused: 400, with the page re-rendered.
        return self.render_to_response(self.get_context_data(obj=cp, kyc_form=form), status=400)
