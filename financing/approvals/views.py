"""The approvals inbox: what waits for me, everything pending, mine, decided; decide with a reason."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

import django_filters
from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect
from django.urls import NoReverseMatch, reverse
from django.views import View
from django.views.generic import TemplateView

from financing import clock
from financing.accounts.mixins import CapabilityRequiredMixin
from financing.accounts.roles import CHECKER_ROLES, Role, can
from financing.approvals import registry, selectors, services
from financing.approvals.models import ApprovalPolicy, ApprovalRequest
from financing.dashboard.tables import Column, TablePageView
from financing.errors import DomainError, Forbidden, InvalidInput

STATUS_TONE = {"pending": "warn", "approved": "ok", "rejected": "bad", "cancelled": "neutral"}
TABS = [("awaiting", "Waiting for me"), ("pending", "All pending"), ("mine", "Made by me"),
        ("decided", "Decided")]


class ApprovalFilter(django_filters.FilterSet):
    action = django_filters.ChoiceFilter(choices=lambda: [(a.name, a.name) for a in registry.all_actions()])
    maker = django_filters.CharFilter(field_name="maker__username", label="Maker")

    class Meta:
        model = ApprovalRequest
        fields = ["action", "maker"]


def _detail_link(a) -> str:
    return reverse("approvals:detail", args=[a.pk])


class InboxView(TablePageView):
    capability = "approvals.view"
    template_name = "approvals/inbox.html"
    filterset_class = ApprovalFilter
    export_name = "approvals"
    columns = [
        Column("id", "#", value=lambda a: f"#{a.pk}", link=_detail_link),
        Column("action", "Action"),
        Column("summary", "Summary"),
        Column("target_repr", "Target"),
        Column("maker.username", "Maker"),
        Column("created_at", "Requested"),
        Column("approvals", "Approvals", value=lambda a: f"{a.approvals_count}/{a.required_approvals}",
               numeric=True),
        Column("amount_usd", "Amount USD", numeric=True),
        Column("status", "Status", badge=lambda a: STATUS_TONE.get(a.status, "neutral")),
        Column("decided_at", "Decided"),
    ]

    def tab(self) -> str:
        default = "awaiting" if can(self.request.user, "approvals.decide") else "pending"
        tab = self.request.GET.get("tab", default)
        return tab if tab in dict(TABS) else default

    @property
    def title(self):
        return f"Approvals — {dict(TABS)[self.tab()]}"

    def get_queryset(self):
        user = self.request.user
        tab = self.tab()
        if tab == "awaiting":
            return selectors.approvals_awaiting(user)
        if tab == "pending":
            return selectors.approvals_list(status="pending")
        if tab == "mine":
            return selectors.approvals_list().filter(maker=user)
        return selectors.approvals_list().exclude(status="pending").order_by("-decided_at", "-id")

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        ctx.update(tabs=TABS, current_tab=self.tab())
        return ctx


def target_url(a: ApprovalRequest) -> str | None:
    if a.target_type_id is None:
        return None
    app, model = a.target_type.app_label, a.target_type.model
    try:
        if app == "refdata":
            key = a.payload.get(model) or a.target_repr
            return reverse(f"refdata:{model}-detail", args=[key])
        return reverse("audit:record", args=[app, model, a.target_id])
    except NoReverseMatch:
        return None


def can_decide(user, a: ApprovalRequest) -> bool:
    return (
        a.status == "pending"
        and user.pk != a.maker_id
        and user.role in CHECKER_ROLES
        and user.role in a.approver_roles
        and not any(d.checker_id == user.pk for d in a.decisions.all())
    )


class DetailView(CapabilityRequiredMixin, TemplateView):
    capability = "approvals.view"
    template_name = "approvals/detail.html"

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        try:
            a = selectors.approvals_list().get(pk=self.kwargs["pk"])
        except ApprovalRequest.DoesNotExist:
            raise Http404("No such approval") from None
        user = self.request.user
        ctx.update(
            a=a,
            tone=STATUS_TONE.get(a.status, "neutral"),
            target_url=target_url(a),
            payload_rows=sorted(a.payload.items()),
            can_decide=can_decide(user, a),
            is_maker=user.pk == a.maker_id,
            decisions=list(a.decisions.all()),
            history_url=reverse("audit:record", args=["approvals", "approvalrequest", a.pk])
            if can(user, "audit.view") else None,
        )
        return ctx


class DecideView(CapabilityRequiredMixin, View):
    """POST decision=approve|reject|cancel with a reason. Errors become messages, never 500s."""

    capability = "approvals.view"

    def post(self, request, pk):
        decision = request.POST.get("decision")
        reason = request.POST.get("reason", "").strip()[:1000]
        now = clock.now()
        try:
            if decision == "approve":
                if not can(request.user, "approvals.decide"):
                    raise Forbidden("Your role can never approve requests.")
                a = services.approval_approve(
                    approval_id=pk, checker=request.user, now=now, reason=reason
                )
                msg = (f"Approved #{pk}." if a.status == "approved" else
                       f"Approval recorded for #{pk}; it needs {a.required_approvals} approvers.")
            elif decision == "reject":
                if not reason:
                    raise InvalidInput("Say why you reject it.", field="reason")
                if not can(request.user, "approvals.decide"):
                    raise Forbidden("Your role can never reject requests.")
                services.approval_reject(
                    approval_id=pk, checker=request.user, now=now, reason=reason
                )
                msg = f"Rejected #{pk}."
            elif decision == "cancel":
                services.approval_cancel(approval_id=pk, user=request.user, now=now, reason=reason)
                msg = f"Withdrew #{pk}."
            else:
                raise InvalidInput("Choose approve, reject or withdraw.")
        except DomainError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, msg)
        return redirect("approvals:detail", pk)


class PoliciesView(CapabilityRequiredMixin, TemplateView):
    capability = "approvals.view"
    post_capability = "approvals.configure"
    template_name = "approvals/policies.html"

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        services.approval_policies_sync()
        ctx.update(
            policies=ApprovalPolicy.objects.prefetch_related("tiers").order_by("action"),
            can_configure=can(self.request.user, "approvals.configure"),
            checker_roles=[r for r in Role if r in CHECKER_ROLES],
        )
        return ctx

    def post(self, request):
        action = request.POST.get("action", "")
        roles = request.POST.getlist("approver_roles")
        tiers = []
        try:
            for line in request.POST.get("tiers", "").splitlines():
                if not line.strip():
                    continue
                amount, _, count = line.partition(":")
                tiers.append((Decimal(amount.strip().replace(",", "")), int(count.strip())))
            if any(c < 1 or c > 5 for _, c in tiers):
                raise InvalidInput("Each tier needs 1 to 5 approvers.", field="tiers")
            services.approval_policy_update(
                action=action, approver_roles=roles, tiers=tiers, actor=request.user,
                reason=request.POST.get("reason", "")
            )
        except (InvalidOperation, ValueError):
            messages.error(request, "Tiers: one per line as 'minimum USD: approvers', e.g. 0: 1")
        except (DomainError, LookupError) as exc:
            messages.error(request, getattr(exc, "message", str(exc)))
        else:
            messages.success(request, f"Policy for {action} updated.")
        return redirect("approvals:policies")
