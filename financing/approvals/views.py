"""The approvals pages: the inbox (waiting for me, all pending, mine, decided), one request with
its decisions, deciding with a reason, and the approval policies.

Every decision goes through `financing.approvals.services`, which enforces segregation of
duties; a refusal (the maker approving, a role that never approves, approving twice) comes
back as a DomainError and is shown as an error message, never a server error.
"""

from __future__ import annotations

from typing import Any

import django_filters
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.http import Http404
from django.shortcuts import redirect
from django.urls import NoReverseMatch, reverse
from django.views.generic import TemplateView

from financing import clock
from financing.accounts.mixins import CapabilityRequiredMixin
from financing.accounts.roles import CHECKER_ROLES, Role, can
from financing.approvals import registry, selectors, services
from financing.approvals.forms import DecisionForm, PolicyForm, format_usd, tiers_as_text
from financing.approvals.models import ApprovalPolicy, ApprovalRequest
from financing.dashboard.tables import Column, TablePageView
from financing.errors import DomainError

Status = ApprovalRequest.Status
STATUS_TONE = {"pending": "warn", "approved": "ok", "rejected": "bad", "cancelled": "neutral"}
TAB_LABELS = {
    "awaiting": "Waiting for me",
    "pending": "All pending",
    "mine": "Made by me",
    "decided": "Decided",
}
#: Words shown in upper case when a payload key becomes a label.
ACRONYMS = {"kyc", "usd", "ltv", "id", "lei", "api", "utc"}


def role_label(role: str) -> str:
    return Role(role).label if role in Role.values else role


def roles_text(roles) -> str:
    return ", ".join(role_label(r) for r in roles)


def humanize_key(key: str) -> str:
    words = [w.upper() if w in ACRONYMS else w for w in str(key).split("_") if w]
    text = " ".join(words)
    return text[:1].upper() + text[1:]


def payload_value(value: Any) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dict):
        return "\n".join(f"{k}: {payload_value(v)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return ", ".join(payload_value(v) for v in value)
    return str(value)


def target_url(a: ApprovalRequest, user) -> str | None:
    """The target's own page when there is one (reference data by code; other apps by the
    `<app>:<model>-detail` convention), otherwise its audit timeline."""
    if a.target_type_id is None or not a.target_id:
        return None
    app, model = a.target_type.app_label, a.target_type.model
    candidates = []
    if app == "refdata" and a.target_repr:
        candidates.append((f"refdata:{model}-detail", a.target_repr))
    else:
        candidates.append((f"{app}:{model}-detail", a.target_id))
    if can(user, "audit.view"):
        candidates.append(("audit:record", None))
    for name, arg in candidates:
        try:
            if name == "audit:record":
                return reverse(name, args=[app, model, a.target_id])
            return reverse(name, args=[arg])
        except NoReverseMatch:
            continue
    return None


def decided_by(user, a: ApprovalRequest) -> bool:
    return any(d.checker_id == user.pk for d in a.decisions.all())


def why_not_decide(user, a: ApprovalRequest) -> str | None:
    """None when the user may approve or reject now; otherwise the reason in plain words.
    The service is still the authority: this only decides which buttons to show."""
    if a.status != Status.PENDING:
        return f"This request is {a.get_status_display().lower()}."
    if user.pk == a.maker_id:
        return "You made this request, so you cannot approve it: another user must."
    if user.role not in CHECKER_ROLES:
        return f"Your role ({role_label(user.role)}) never approves requests."
    if user.role not in a.approver_roles:
        return f"Only these roles decide on this action: {roles_text(a.approver_roles)}."
    if decided_by(user, a):
        return "You have already approved this request; it waits for another approver."
    return None


class ApprovalFilter(django_filters.FilterSet):
    action = django_filters.ChoiceFilter(
        choices=lambda: [(a.name, a.name) for a in registry.all_actions()],
        empty_label="Any",
    )
    maker = django_filters.ModelChoiceFilter(
        field_name="maker",
        to_field_name="username",
        queryset=lambda request: (
            get_user_model()
            .objects.filter(approvals_made__isnull=False)
            .distinct()
            .order_by("username")
        ),
        empty_label="Anyone",
        label="Maker",
    )

    class Meta:
        model = ApprovalRequest
        fields = ["action", "maker"]


class InboxView(TablePageView):
    capability = "approvals.view"
    template_name = "approvals/inbox.html"
    filterset_class = ApprovalFilter
    export_name = "approvals"

    def get_columns(self) -> list[Column]:
        user = self.request.user
        columns = [
            Column(
                "id",
                "#",
                value=lambda a: f"#{a.pk}",
                link=lambda a: reverse("approvals:detail", args=[a.pk]),
            ),
            Column("action", "Action"),
            Column("summary", "Summary"),
            Column("target_repr", "Target", link=lambda a: target_url(a, user)),
            Column("maker.username", "Maker"),
            Column("created_at", "Requested"),
            Column(
                "approvals",
                "Approvals",
                value=lambda a: f"{a.approvals_count}/{a.required_approvals}",
                numeric=True,
            ),
            Column("amount_usd", "Amount (USD)", numeric=True),
            Column(
                "status",
                "Status",
                value=lambda a: a.get_status_display(),
                badge=lambda a: STATUS_TONE.get(a.status, "neutral"),
            ),
        ]
        if self.tab() in ("mine", "decided"):
            columns.append(Column("decided_at", "Decided"))
        return columns

    def tabs(self) -> list[str]:
        if can(self.request.user, "approvals.decide"):
            return ["awaiting", "pending", "mine", "decided"]
        return ["pending", "mine", "decided"]

    def tab(self) -> str:
        tabs = self.tabs()
        tab = self.request.GET.get("tab", "")
        return tab if tab in tabs else tabs[0]

    @property
    def title(self) -> str:
        return f"Approvals · {TAB_LABELS[self.tab()]}"

    def tab_queryset(self, tab: str):
        user = self.request.user
        if tab == "awaiting":
            return selectors.approvals_awaiting(user)
        if tab == "pending":
            return selectors.approvals_list(status=Status.PENDING)
        if tab == "mine":
            return selectors.approvals_list().filter(maker=user)
        return (
            selectors.approvals_list().exclude(status=Status.PENDING).order_by("-decided_at", "-id")
        )

    def get_queryset(self):
        return self.tab_queryset(self.tab())

    def rows(self, page_rows):
        """On screen, USD amounts get thousands separators and cents; exports keep the plain
        decimal so a spreadsheet reads it as a number."""
        rows = super().rows(page_rows)
        index = next(i for i, c in enumerate(self.get_columns()) if c.key == "amount_usd")
        for row in rows:
            amount = row["obj"].amount_usd
            if amount is not None:
                row["cells"][index]["text"] = f"{amount:,.2f}"
        return rows

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        current = self.tab()
        counts = {
            "awaiting": lambda: selectors.approvals_awaiting(self.request.user).count(),
            "pending": lambda: ApprovalRequest.objects.filter(status=Status.PENDING).count(),
        }
        ctx.update(
            current_tab=current,
            tabs=[
                {
                    "key": key,
                    "label": TAB_LABELS[key],
                    "count": counts[key]() if key in counts else None,
                    "active": key == current,
                }
                for key in self.tabs()
            ],
        )
        return ctx


class DetailView(CapabilityRequiredMixin, TemplateView):
    capability = "approvals.view"
    template_name = "approvals/detail.html"

    def get_approval(self) -> ApprovalRequest:
        try:
            return selectors.approvals_list().get(pk=self.kwargs["pk"])
        except ApprovalRequest.DoesNotExist:
            raise Http404("No such approval request.") from None

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        a = kwargs.get("approval") or self.get_approval()
        user = self.request.user
        blocked = why_not_decide(user, a)
        is_maker = user.pk == a.maker_id
        try:
            history = reverse("audit:record", args=["approvals", "approvalrequest", a.pk])
        except NoReverseMatch:
            history = None
        ctx.update(
            a=a,
            tone=STATUS_TONE.get(a.status, "neutral"),
            target_url=target_url(a, user),
            payload_rows=[(humanize_key(k), payload_value(v)) for k, v in a.payload.items()],
            result_rows=[(humanize_key(k), payload_value(v)) for k, v in (a.result or {}).items()],
            approver_roles=roles_text(a.approver_roles),
            amount_text=f"{a.amount_usd:,.2f} USD" if a.amount_usd is not None else None,
            decisions=list(a.decisions.all()),
            can_decide=blocked is None,
            why_not=blocked,
            can_withdraw=is_maker and a.status == Status.PENDING,
            is_maker=is_maker,
            decision_form=kwargs.get("decision_form") or DecisionForm(),
            history_url=history if can(user, "audit.view") else None,
        )
        return ctx


class DecideView(DetailView):
    """POST decision=approve|reject|cancel with a reason. A GET shows the request."""

    def get(self, request, *args, **kwargs):
        return redirect("approvals:detail", self.kwargs["pk"])

    def post(self, request, pk):
        approval = self.get_approval()
        form = DecisionForm(request.POST)
        if not form.is_valid():
            for msg in form.errors.get("decision", []):
                messages.error(request, f"Decision: {msg}")
            ctx = self.get_context_data(approval=approval, decision_form=form)
            return self.render_to_response(ctx)
        decision = form.cleaned_data["decision"]
        reason = form.cleaned_data["reason"].strip()
        now = clock.now()
        try:
            if decision == "approve":
                a = services.approval_approve(
                    approval_id=pk, checker=request.user, now=now, reason=reason
                )
                if a.status == Status.APPROVED:
                    msg = f"Approved #{pk}: the change is applied."
                else:
                    msg = (
                        f"Your approval of #{pk} is recorded; it needs "
                        f"{a.required_approvals} approvers in all."
                    )
            elif decision == "reject":
                services.approval_reject(
                    approval_id=pk, checker=request.user, now=now, reason=reason
                )
                msg = f"Rejected #{pk}."
            else:
                services.approval_cancel(approval_id=pk, user=request.user, now=now, reason=reason)
                msg = f"Withdrew #{pk}."
        except DomainError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, msg)
        return redirect("approvals:detail", pk)


class PoliciesView(CapabilityRequiredMixin, TemplateView):
    capability = "approvals.view"
    post_capability = "approvals.configure"
    template_name = "approvals/policies.html"

    def policy_rows(self):
        rows = []
        for p in ApprovalPolicy.objects.prefetch_related("tiers").order_by("action"):
            tiers = sorted(p.tiers.all(), key=lambda t: t.min_amount_usd)
            rows.append(
                {
                    "policy": p,
                    "roles": roles_text(p.approver_roles),
                    "tiers": [
                        f"from {format_usd(t.min_amount_usd)}: {t.approvers_required} "
                        f"approver{'s' if t.approvers_required != 1 else ''}"
                        for t in tiers
                    ],
                    "tiers_text": tiers_as_text(tiers),
                }
            )
        return rows

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        services.approval_policies_sync()
        rows = self.policy_rows()
        can_configure = can(self.request.user, "approvals.configure")
        form = kwargs.get("form")
        editing = form["action"].value() if form is not None else self.request.GET.get("edit")
        row = next((r for r in rows if r["policy"].action == editing), None)
        if can_configure and row is not None and form is None:
            form = PolicyForm(
                initial={
                    "action": row["policy"].action,
                    "approver_roles": row["policy"].approver_roles,
                    "tiers": row["tiers_text"],
                }
            )
        ctx.update(
            rows=rows,
            can_configure=can_configure,
            editing=row["policy"] if (can_configure and row) else None,
            form=form if (can_configure and row) else None,
        )
        return ctx

    def post(self, request, *args, **kwargs):
        form = PolicyForm(request.POST)
        if form.is_valid():
            action = form.cleaned_data["action"]
            try:
                services.approval_policy_update(
                    action=action,
                    approver_roles=form.cleaned_data["approver_roles"],
                    tiers=form.cleaned_data["tiers"],
                    actor=request.user,
                    reason=form.cleaned_data["reason"],
                )
            except DomainError as exc:
                for field, msgs in (exc.errors or {None: [exc.message]}).items():
                    for msg in msgs:
                        form.add_error(field if field in form.fields else None, msg)
            else:
                messages.success(request, f"Policy for {action} updated.")
                return redirect("approvals:policies")
        elif "action" in form.errors:
            messages.error(request, "Unknown action: choose a policy from the table.")
            return redirect("approvals:policies")
        return self.render_to_response(self.get_context_data(form=form))
