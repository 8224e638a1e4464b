"""Loan-book pages: the book, a loan's detail with its servicing actions, the booking form and
the accrual runs. Every action posts to a view that calls the same service as the API."""

from __future__ import annotations

import django_filters
from django import forms
from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.views.generic import FormView, TemplateView

from financing import clock
from financing.accounts.mixins import CapabilityRequiredMixin
from financing.accounts.roles import can
from financing.dashboard.actions import Action, ActionView, available_actions
from financing.dashboard.display import amount, apply_domain_error, pct
from financing.dashboard.tables import Column, TablePageView
from financing.errors import DomainError
from financing.money import format_amount, quantize_to_asset
from financing.refdata.models import Asset, Counterparty, Desk
from loans import selectors, services
from loans.models import (
    LIVE_STATUSES,
    Accrual,
    DayCount,
    Direction,
    InterestSettlement,
    Loan,
    LoanStatus,
    PrincipalChange,
    RateChange,
    SettlementFrequency,
    Term,
)

DATE = forms.DateInput(format="%Y-%m-%d", attrs={"type": "date"})

STATUS_TONE = {
    LoanStatus.ACTIVE: "ok",
    LoanStatus.PENDING_APPROVAL: "warn",
    LoanStatus.DRAFT: "neutral",
    LoanStatus.RECALLED: "warn",
    LoanStatus.DEFAULTED: "bad",
    LoanStatus.LIQUIDATED: "bad",
    LoanStatus.WRITTEN_OFF: "bad",
    LoanStatus.CLOSED: "neutral",
    LoanStatus.REJECTED: "neutral",
}


class LoanPageFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=LoanStatus.choices, empty_label="any status")
    direction = django_filters.ChoiceFilter(choices=Direction.choices, empty_label="lend & borrow")
    counterparty = django_filters.ModelChoiceFilter(
        queryset=Counterparty.objects.order_by("code"), to_field_name="code", empty_label="any"
    )
    asset = django_filters.ModelChoiceFilter(
        queryset=Asset.objects.order_by("symbol"), to_field_name="symbol", empty_label="any"
    )
    desk = django_filters.ModelChoiceFilter(
        queryset=Desk.objects.order_by("code"), to_field_name="code", empty_label="any"
    )
    term = django_filters.ChoiceFilter(choices=Term.choices, empty_label="any term")
    is_overdue = django_filters.BooleanFilter(
        label="Overdue",
        widget=forms.Select(choices=[("", "any"), ("true", "overdue"), ("false", "not overdue")]),
    )

    class Meta:
        model = Loan
        fields = []


def _loan_link(loan: Loan) -> str:
    return reverse("loans:detail", args=[loan.pk])


class LoanBookView(TablePageView):
    title = "Loan book"
    capability = "loans.view"
    template_name = "loans/book.html"
    filterset_class = LoanPageFilter
    export_name = "loan-book"
    columns = [
        Column("reference", "Loan", link=_loan_link),
        Column(
            "status",
            "Status",
            value=lambda r: r.get_status_display(),
            badge=lambda r: STATUS_TONE.get(r.status, "neutral"),
        ),
        Column("direction", "Direction", value=lambda r: r.get_direction_display()),
        Column("counterparty.code", "Counterparty"),
        Column("asset.symbol", "Asset"),
        Column(
            "principal", "Principal", value=lambda r: amount(r.principal, r.asset), numeric=True
        ),
        Column(
            "outstanding_principal",
            "Outstanding",
            value=lambda r: amount(r.outstanding_principal, r.asset),
            numeric=True,
        ),
        Column("rate", "Rate", value=lambda r: pct(r.rate), numeric=True),
        Column("day_count", "Day count"),
        Column("start_date", "Start"),
        Column(
            "maturity_date",
            "Maturity / due",
            value=lambda r: r.maturity_date or r.recall_due_date or "open",
        ),
        Column(
            "accrued",
            "Accrued unsettled",
            value=lambda r: amount(r.accrued_unsettled, r.asset),
            numeric=True,
        ),
        Column(
            "is_overdue",
            "Overdue",
            value=lambda r: "overdue" if r.is_overdue else "",
            badge=lambda r: "bad" if r.is_overdue else None,
        ),
    ]

    def get_queryset(self):
        return selectors.loan_list()

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        totals = selectors.loan_totals_by_asset(self.filtered())
        for row in totals:
            for key in ("outstanding", "accrued"):
                value = quantize_to_asset(row[key], row["asset__decimals"])
                row[f"{key}_text"] = f"{format_amount(value)} {row['asset__symbol']}"
        ctx["totals"] = totals
        ctx["can_book"] = can(self.request.user, "loans.book")
        return ctx


class AccrualRunsView(TablePageView):
    title = "Interest accrual runs"
    capability = "loans.view"
    template_name = "loans/accrual_runs.html"
    export_name = "accrual-runs"
    columns = [
        Column("id", "Run"),
        Column("started_at", "Started"),
        Column("trigger", "Trigger"),
        Column("through", "Through"),
        Column("first_day", "First day"),
        Column("last_day", "Last day"),
        Column("days_booked", "Days booked", numeric=True),
        Column("loans_accrued", "Loans accrued", numeric=True),
        Column("rows_booked", "Rows booked", numeric=True),
        Column("loans_restated", "Loans restated", numeric=True),
        Column("adjustments_booked", "Adjustments", numeric=True),
        Column("loans_caught_up", "Loans caught up", numeric=True),
        Column("loans_rolled_up", "Totals rolled up", numeric=True),
        Column("seconds", "Seconds", numeric=True),
    ]

    def get_queryset(self):
        return selectors.accrual_runs()

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        ctx["can_run"] = can(self.request.user, "jobs.run")
        return ctx


# ---------------------------------------------------------------- forms


class LoanBookForm(forms.Form):
    direction = forms.ChoiceField(choices=Direction.choices)
    counterparty = forms.ModelChoiceField(
        queryset=Counterparty.objects.filter(is_active=True).order_by("code"),
        to_field_name="code",
        help_text="Only counterparties whose KYC is approved and current can be booked.",
    )
    asset = forms.ModelChoiceField(
        queryset=Asset.objects.filter(is_active=True).order_by("symbol"), to_field_name="symbol"
    )
    principal = forms.DecimalField(max_digits=38, decimal_places=18, min_value=0)
    rate = forms.DecimalField(
        max_digits=38, decimal_places=10, min_value=0, help_text="Yearly fraction: 0.085 = 8.5%"
    )
    day_count = forms.ChoiceField(choices=DayCount.choices)
    term = forms.ChoiceField(choices=Term.choices)
    start_date = forms.DateField(widget=DATE)
    maturity_date = forms.DateField(required=False, widget=DATE, help_text="Fixed term only")
    recall_notice_days = forms.IntegerField(
        required=False, min_value=0, max_value=365, help_text="Open term only"
    )
    settlement_frequency = forms.ChoiceField(choices=SettlementFrequency.choices)
    capitalise_interest = forms.BooleanField(required=False)
    desk = forms.ModelChoiceField(
        queryset=Desk.objects.order_by("code"), to_field_name="code", required=False
    )
    initial_ltv = forms.DecimalField(
        required=False, max_digits=38, decimal_places=18, label="Initial LTV"
    )
    call_ltv = forms.DecimalField(
        required=False, max_digits=38, decimal_places=18, label="Margin-call LTV"
    )
    liquidation_ltv = forms.DecimalField(
        required=False, max_digits=38, decimal_places=18, label="Liquidation LTV"
    )
    release_ltv = forms.DecimalField(
        required=False, max_digits=38, decimal_places=18, label="Release LTV"
    )
    cure_hours = forms.IntegerField(
        required=False, min_value=1, max_value=720, help_text="Hours to cure a margin call"
    )
    external_ref = forms.CharField(required=False, max_length=100)
    reason = forms.CharField(
        required=False, max_length=500, widget=forms.Textarea(attrs={"rows": 2})
    )


class LoanBookFormView(CapabilityRequiredMixin, FormView):
    capability = "loans.book"
    template_name = "loans/book_form.html"
    form_class = LoanBookForm

    def get_initial(self):
        return {
            "start_date": clock.business_date(),
            "day_count": DayCount.ACT_365F,
            "term": Term.OPEN,
            "settlement_frequency": SettlementFrequency.MONTHLY,
            "direction": Direction.LEND,
        }

    def form_valid(self, form):
        d = form.cleaned_data
        margin = {
            k: d[k]
            for k in ("initial_ltv", "call_ltv", "liquidation_ltv", "release_ltv", "cure_hours")
            if d.get(k) is not None
        }
        try:
            loan = services.loan_book(
                actor=self.request.user,
                now=clock.now(),
                counterparty=d["counterparty"],
                direction=d["direction"],
                asset=d["asset"],
                principal=d["principal"],
                rate=d["rate"],
                day_count=d["day_count"],
                term=d["term"],
                start_date=d["start_date"],
                maturity_date=d["maturity_date"],
                recall_notice_days=d["recall_notice_days"],
                settlement_frequency=d["settlement_frequency"],
                capitalise_interest=d["capitalise_interest"],
                margin=margin,
                desk=d["desk"],
                external_ref=d["external_ref"],
                reason=d["reason"],
            )
        except DomainError as exc:
            apply_domain_error(form, exc)
            return self.form_invalid(form)
        messages.success(
            self.request,
            f"Loan {loan.reference} booked; it waits for approval #{loan.approval_id} "
            "by another user.",
        )
        return redirect("loans:detail", loan.pk)


class RateChangeForm(forms.Form):
    rate = forms.DecimalField(max_digits=38, decimal_places=10, min_value=0)
    effective_date = forms.DateField(widget=DATE)
    reason = forms.CharField(max_length=500, required=False)


class RepaymentForm(forms.Form):
    amount = forms.DecimalField(max_digits=38, decimal_places=18)
    date = forms.DateField(widget=DATE)
    reason = forms.CharField(max_length=500, required=False)


class SettlementForm(forms.Form):
    date = forms.DateField(widget=DATE)
    reason = forms.CharField(max_length=500, required=False)


class RecallForm(forms.Form):
    notice_days = forms.IntegerField(required=False, min_value=0, max_value=365)
    reason = forms.CharField(max_length=500, required=False)


class ReasonForm(forms.Form):
    reason = forms.CharField(max_length=500)


class OptionalReasonForm(forms.Form):
    reason = forms.CharField(max_length=500, required=False)


class LiquidationForm(forms.Form):
    proceeds = forms.DecimalField(max_digits=38, decimal_places=18, min_value=0)
    date = forms.DateField(widget=DATE)
    reason = forms.CharField(max_length=500, required=False)


#: action name -> (form, capability, label, statuses it applies to, service call)
def _do_rate_change(user, loan, d, now):
    a = services.loan_rate_change_request(actor=user, loan=loan, now=now, **d)
    return f"Rate change requested: approval #{a.pk} waits for another user."


def _do_repay(user, loan, d, now):
    services.loan_repay(
        actor=user, loan=loan, amount=d["amount"], on=d["date"], now=now, reason=d["reason"]
    )
    return f"Repayment of {amount(d['amount'], loan.asset)} recorded."


def _do_settle(user, loan, d, now):
    s = services.loan_interest_settle(
        actor=user, loan=loan, on=d["date"], now=now, reason=d["reason"]
    )
    return f"Interest settled: {amount(s.amount, loan.asset)} (carried {format_amount(s.carried)})."


def _do_recall(user, loan, d, now):
    loan = services.loan_recall(
        actor=user, loan=loan, now=now, notice_days=d["notice_days"], reason=d["reason"]
    )
    return f"Loan recalled; due {loan.recall_due_date}."


def _do_default(user, loan, d, now):
    services.loan_default(actor=user, loan=loan, now=now, reason=d["reason"])
    return "Loan marked in default."


def _do_liquidate(user, loan, d, now):
    services.loan_liquidate(
        actor=user, loan=loan, proceeds=d["proceeds"], on=d["date"], now=now, reason=d["reason"]
    )
    return "Liquidation recorded."


def _do_write_off(user, loan, d, now):
    a = services.loan_write_off_request(actor=user, loan=loan, now=now, reason=d["reason"])
    return f"Write-off requested: approval #{a.pk} waits for another user."


def _do_close(user, loan, d, now):
    services.loan_close(actor=user, loan=loan, now=now, reason=d["reason"])
    return "Loan closed."


def _in(*statuses):
    def applies(loan, user) -> bool:
        return loan.status in statuses

    return applies


def _recallable(loan, user) -> bool:
    return loan.status == LoanStatus.ACTIVE and loan.term == Term.OPEN


ACTIONS = {
    "rate-change": Action(
        RateChangeForm, "loans.rate_change", "Change rate", _do_rate_change, _in(*LIVE_STATUSES)
    ),
    "repayment": Action(
        RepaymentForm, "loans.service", "Record repayment", _do_repay, _in(*LIVE_STATUSES)
    ),
    "settlement": Action(
        SettlementForm, "loans.service", "Settle interest", _do_settle, _in(*LIVE_STATUSES)
    ),
    "recall": Action(RecallForm, "loans.service", "Recall", _do_recall, _recallable),
    "default": Action(
        ReasonForm,
        "loans.default",
        "Mark in default",
        _do_default,
        _in(LoanStatus.ACTIVE, LoanStatus.RECALLED),
    ),
    "liquidation": Action(
        LiquidationForm,
        "loans.service",
        "Record liquidation",
        _do_liquidate,
        _in(LoanStatus.DEFAULTED),
    ),
    "write-off": Action(
        ReasonForm,
        "loans.write_off",
        "Request write-off",
        _do_write_off,
        _in(LoanStatus.DEFAULTED, LoanStatus.LIQUIDATED),
    ),
    "close": Action(
        OptionalReasonForm,
        "loans.service",
        "Close",
        _do_close,
        _in(LoanStatus.ACTIVE, LoanStatus.RECALLED, LoanStatus.LIQUIDATED, LoanStatus.WRITTEN_OFF),
    ),
}


class LoanDetailView(CapabilityRequiredMixin, TemplateView):
    capability = "loans.view"
    template_name = "loans/detail.html"

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        loan = get_object_or_404(selectors.loan_list(), pk=kwargs["pk"])
        bal = loan.balance
        today = clock.business_date()
        schedule = selectors.loan_accrual_schedule(loan)
        running = 0
        chart = {"labels": [], "daily": [], "cumulative": []}
        for row in schedule:
            running += row["amount"]
            chart["labels"].append(row["date"].isoformat())
            chart["daily"].append(str(row["amount"]))
            chart["cumulative"].append(str(running))
        user = self.request.user
        actions = available_actions(
            ACTIONS,
            loan,
            user,
            initial={"date": today, "effective_date": today},
            url=lambda name: reverse("loans:action", args=[loan.pk, name]),
        )
        ctx.update(
            loan=loan,
            bal=bal,
            tone=STATUS_TONE.get(loan.status, "neutral"),
            principal_text=amount(loan.principal, loan.asset),
            outstanding_text=amount(loan.outstanding_principal, loan.asset),
            accrued_text=amount(loan.accrued_unsettled, loan.asset),
            accrued_total_text=amount(loan.accrued_total, loan.asset),
            settled_text=amount(bal.interest_settled, loan.asset),
            capitalised_text=amount(bal.interest_capitalised, loan.asset),
            rate_text=pct(loan.rate),
            margin=[
                (
                    n.replace("_ltv", "").replace("_", " ").capitalize() + " LTV",
                    pct(getattr(loan, n)),
                )
                for n in services.MARGIN_FIELDS
                if getattr(loan, n) is not None
            ],
            events=selectors.loan_events(loan),
            rates=RateChange.objects.filter(loan=loan)
            .select_related("created_by")
            .order_by("effective_date", "id"),
            principal_changes=PrincipalChange.objects.filter(loan=loan).order_by(
                "effective_date", "id"
            ),
            settlements=InterestSettlement.objects.filter(loan=loan).order_by("date", "id"),
            recent_accruals=Accrual.objects.filter(loan=loan).order_by("-date", "-kind", "-seq")[
                :60
            ],
            chart=chart,
            actions=actions,
            history_url=reverse("audit:record", args=["loans", "loan", loan.pk])
            if can(user, "audit.view")
            else None,
            approval_url=reverse("approvals:detail", args=[loan.approval_id])
            if loan.approval_id and can(user, "approvals.view")
            else None,
        )
        return ctx


class LoanActionView(ActionView):
    capability = "loans.view"
    actions = ACTIONS

    def get_object(self, pk: int):
        return get_object_or_404(Loan.objects.select_related("asset"), pk=pk)

    def back_url(self, obj) -> str:
        return reverse("loans:detail", args=[obj.pk])
