"""The concentration-limits page: every limit with its usage now, the form to set one, and the
largest exposures no limit caps. Setting a limit calls the same service as the API
(collateral/limits.py)."""

from __future__ import annotations

from decimal import Decimal
from types import SimpleNamespace

from django import forms
from django.contrib import messages
from django.shortcuts import redirect
from django.utils.functional import cached_property

from collateral import limits as limits_service
from collateral.models import TENOR_BUCKETS, ConcentrationLimit, LimitKind
from collateral.views._common import pct
from collateral.views._figures import _pct2
from financing import clock
from financing.accounts.roles import can
from financing.dashboard.display import apply_domain_error, form_errors, usd
from financing.dashboard.tables import Column, TablePageView
from financing.errors import DomainError
from financing.refdata.models import Asset, Counterparty

STATUS_TONE = {"ok": "ok", "soft": "warn", "hard": "bad"}
STATUS_LABEL = {"ok": "within limits", "soft": "over soft", "hard": "over hard"}


class LimitForm(forms.Form):
    kind = forms.ChoiceField(choices=LimitKind.choices)
    key = forms.CharField(
        max_length=32,
        label="Counterparty, asset or tenor bucket",
        widget=forms.TextInput(attrs={"list": "limit-keys", "autocomplete": "off"}),
        help_text="A counterparty code, an asset symbol or a tenor bucket ("
        + ", ".join(b[0] for b in TENOR_BUCKETS)
        + ").",
    )
    soft_limit_usd = forms.DecimalField(
        max_digits=38,
        decimal_places=2,
        min_value=0,
        label="Soft limit (USD)",
        help_text="Above it: a warning alert.",
    )
    hard_limit_usd = forms.DecimalField(
        max_digits=38,
        decimal_places=2,
        min_value=0,
        label="Hard limit (USD)",
        help_text="Above it: a critical alert, and a booking "
        "that would pass it needs an extra approval.",
    )
    reason = forms.CharField(required=False, max_length=500)


class LimitFilterForm(forms.Form):
    kind = forms.ChoiceField(required=False, choices=[("", "any kind"), *LimitKind.choices])
    status = forms.ChoiceField(required=False, choices=[("", "any status"), *STATUS_LABEL.items()])


class LimitsView(TablePageView):
    """Every limit with its usage now (bars), the form to set one, and the largest exposures
    that no limit caps."""

    title = "Concentration limits"
    capability = "collateral.view"
    post_capability = "risk.configure"
    template_name = "collateral/limits.html"
    export_name = "concentration-limits"
    paginate_by = 100
    columns = [
        Column("kind", "Kind", value=lambda u: LimitKind(u["kind"]).label),
        Column("key", "Applies to"),
        Column("exposure_usd", "Exposure", value=lambda u: usd(u["exposure_usd"]), numeric=True),
        Column(
            "soft_limit_usd", "Soft limit", value=lambda u: usd(u["soft_limit_usd"]), numeric=True
        ),
        Column(
            "hard_limit_usd", "Hard limit", value=lambda u: usd(u["hard_limit_usd"]), numeric=True
        ),
        Column(
            "utilisation", "Used (of hard)", value=lambda u: pct(u["utilisation"]), numeric=True
        ),
        Column(
            "status",
            "Status",
            value=lambda u: STATUS_LABEL[u["status"]],
            badge=lambda u: STATUS_TONE[u["status"]],
        ),
        Column(
            "headroom_usd", "Headroom to hard", value=lambda u: usd(u["headroom_usd"]), numeric=True
        ),
        Column("loans", "Loans", numeric=True),
        Column("unpriced_loans", "Unpriced loans", numeric=True),
        Column("updated_by", "Set by"),
        Column("updated_at", "Set at"),
    ]

    @cached_property
    def now(self):
        return clock.now()

    @cached_property
    def exposure(self) -> dict:
        return limits_service.limits_exposure(self.now)

    def get_queryset(self):
        rows = limits_service.limits_usage(self.now, exposure=self.exposure)
        for u in rows:
            u["bar_pct"] = _pct2(min(u["utilisation"], Decimal(1)))
            u["text"] = {
                "exposure": usd(u["exposure_usd"]),
                "soft": usd(u["soft_limit_usd"]),
                "hard": usd(u["hard_limit_usd"]),
                "used": pct(u["utilisation"]),
                "status": STATUS_LABEL[u["status"]],
                "headroom": usd(u["headroom_usd"]),
            }
            u["status_tone"] = STATUS_TONE[u["status"]]
            u["soft_pct"] = _pct2(min(u["soft_mark"], Decimal(1)))
        return rows

    def filtered(self):
        rows = self.get_queryset()
        form = LimitFilterForm(self.request.GET or None)
        self.filterset = SimpleNamespace(form=form)
        if not form.is_bound:
            return rows
        if not form.is_valid():
            return []
        if form.cleaned_data["kind"]:
            rows = [u for u in rows if u["kind"] == form.cleaned_data["kind"]]
        if form.cleaned_data["status"]:
            rows = [u for u in rows if u["status"] == form.cleaned_data["status"]]
        return rows

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        limited = set(ConcentrationLimit.objects.values_list("kind", "key"))
        unlimited = []
        for kind, groups in self.exposure.items():
            for key, g in groups.items():
                if (kind, key) not in limited and g["exposure_usd"] > 0:
                    unlimited.append(
                        {
                            "kind": LimitKind(kind).label,
                            "kind_key": kind,
                            "key": key,
                            "exposure": usd(g["exposure_usd"]),
                            "value": g["exposure_usd"],
                            "loans": g["loans"],
                        }
                    )
        unlimited.sort(key=lambda x: -x["value"])
        can_set = can(self.request.user, "risk.configure")
        form = kwargs.get("limit_form")
        if form is None and can_set:
            initial = {}
            # "Change" links prefill the form with a limit's kind, key and figures.
            kind, key = self.request.GET.get("set_kind"), self.request.GET.get("set_key")
            if kind in LimitKind.values and key:
                initial = {"kind": kind, "key": key}
                row = ConcentrationLimit.objects.filter(kind=kind, key=key).first()
                if row is not None:
                    initial.update(
                        soft_limit_usd=row.soft_limit_usd.quantize(Decimal("0.01")),
                        hard_limit_usd=row.hard_limit_usd.quantize(Decimal("0.01")),
                    )
            form = LimitForm(initial=initial)
        ctx.update(
            can_set=can_set,
            limit_form=form,
            unlimited=unlimited[:15],
            as_of=self.now,
            key_options=(
                list(Counterparty.objects.order_by("code").values_list("code", flat=True))
                + list(
                    Asset.objects.filter(is_active=True)
                    .order_by("symbol")
                    .values_list("symbol", flat=True)
                )
                + [b[0] for b in TENOR_BUCKETS]
            )
            if can_set
            else [],
        )
        return ctx

    def post(self, request, *args, **kwargs):
        form = LimitForm(request.POST)
        if form.is_valid():
            d = form.cleaned_data
            try:
                row = limits_service.limit_set(
                    actor=request.user,
                    kind=d["kind"],
                    key=d["key"],
                    soft_limit_usd=d["soft_limit_usd"],
                    hard_limit_usd=d["hard_limit_usd"],
                    now=clock.now(),
                    reason=d["reason"],
                )
            except DomainError as exc:
                apply_domain_error(form, exc)
            else:
                messages.success(
                    request,
                    f"Limit on {limits_service.limit_label(row.kind, row.key)} set: soft "
                    f"{usd(row.soft_limit_usd)}, hard {usd(row.hard_limit_usd)}. Alerts follow "
                    "at the next limit check.",
                )
                return redirect("collateral:limits")
        messages.error(request, f"Limit not set: {form_errors(form)}")
        return self.render_to_response(self.get_context_data(limit_form=form), status=400)
