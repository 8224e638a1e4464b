"""Treasury pages: accounts with their latest balance and the lendable inventory, balance
snapshots, buffer levels; and the forms that call the same services as the API."""

from __future__ import annotations

from datetime import datetime

import django_filters
from django import forms
from django.urls import reverse

from financing import clock
from financing.accounts.roles import can
from financing.dashboard.actions import Action, ActionView
from financing.dashboard.tables import Column, TablePageView
from financing.errors import DomainError
from financing.money import format_amount
from financing.refdata.models import Asset, Venue
from treasury import selectors, services
from treasury.models import AccountPurpose, BalanceSnapshot, BufferLevel, TreasuryAccount

VIEW, MANAGE = "treasury.view", "treasury.manage"


def age(as_of: datetime | None, now: datetime) -> str:
    """How old a balance is, coarsely: "45 min", "5 h", "3 d"."""
    if as_of is None:
        return "no balance"
    seconds = max(0, int((now - as_of).total_seconds()))
    if seconds < 3600:
        return f"{seconds // 60} min"
    if seconds < 86400 * 2:
        return f"{seconds // 3600} h"
    return f"{seconds // 86400} d"


def age_tone(as_of: datetime | None, now: datetime) -> str:
    if as_of is None:
        return "neutral"
    hours = (now - as_of).total_seconds() / 3600
    return "ok" if hours <= 24 else ("warn" if hours <= 72 else "bad")


# ---------------------------------------------------------------- forms


def _asset_choices():
    return [(a.symbol, a.symbol) for a in Asset.objects.filter(is_active=True).order_by("symbol")]


def _venue_choices():
    return [
        (v.code, f"{v.code} · {v.name}")
        for v in Venue.objects.filter(status="active").order_by("code")
    ]


class AccountForm(forms.Form):
    venue = forms.ChoiceField()
    asset = forms.ChoiceField()
    purpose = forms.ChoiceField(choices=AccountPurpose.choices)
    name = forms.CharField(max_length=100, required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["asset"].choices = _asset_choices()
        self.fields["venue"].choices = _venue_choices()


class BalanceForm(forms.Form):
    account = forms.TypedChoiceField(coerce=int)
    amount = forms.DecimalField(max_digits=38, decimal_places=18, min_value=0)
    as_of = forms.DateTimeField(
        label="As of (UTC)",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["account"].choices = [
            (a.pk, f"{a.asset.symbol} · {a.venue.code} · {a.purpose}")
            for a in TreasuryAccount.objects.filter(is_active=True).select_related("asset", "venue")
        ]


class ImportForm(forms.Form):
    file = forms.FileField(
        help_text="CSV or XLSX with columns venue, asset, purpose, amount, as_of "
        "(times without an offset are UTC). All rows or none."
    )


class BufferForm(forms.Form):
    asset = forms.ChoiceField()
    venue = forms.ChoiceField(required=False)
    minimum = forms.DecimalField(max_digits=38, decimal_places=18, min_value=0)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["asset"].choices = _asset_choices()
        self.fields["venue"].choices = [("", "across venues"), *_venue_choices()]


# ---------------------------------------------------------------- filters


class AccountFilter(django_filters.FilterSet):
    asset = django_filters.ModelChoiceFilter(
        queryset=Asset.objects.order_by("symbol"), to_field_name="symbol", empty_label="any"
    )
    venue = django_filters.ModelChoiceFilter(
        queryset=Venue.objects.order_by("code"), to_field_name="code", empty_label="any"
    )
    purpose = django_filters.ChoiceFilter(choices=AccountPurpose.choices, empty_label="any")
    is_active = django_filters.BooleanFilter(label="Active")

    class Meta:
        model = TreasuryAccount
        fields = []


class BalanceFilter(django_filters.FilterSet):
    asset = django_filters.ModelChoiceFilter(
        field_name="account__asset",
        queryset=Asset.objects.order_by("symbol"),
        to_field_name="symbol",
        empty_label="any",
    )
    venue = django_filters.ModelChoiceFilter(
        field_name="account__venue",
        queryset=Venue.objects.order_by("code"),
        to_field_name="code",
        empty_label="any",
    )
    purpose = django_filters.ChoiceFilter(
        field_name="account__purpose", choices=AccountPurpose.choices, empty_label="any"
    )
    account = django_filters.NumberFilter(field_name="account_id")
    source = django_filters.CharFilter()

    class Meta:
        model = BalanceSnapshot
        fields = []


# ---------------------------------------------------------------- pages


class AccountListView(TablePageView):
    title = "Treasury accounts"
    capability = VIEW
    template_name = "treasury/accounts.html"
    filterset_class = AccountFilter
    export_name = "treasury-accounts"

    def get_columns(self):
        now = self.now
        return [
            Column("asset.symbol", "Asset"),
            Column("venue.code", "Venue"),
            Column("purpose", "Purpose"),
            Column("name", "Name"),
            Column("is_active", "Active", badge=lambda a: "ok" if a.is_active else "neutral"),
            Column(
                "balance",
                "Balance",
                value=lambda a: (
                    f"{format_amount(a.balance)} {a.asset.symbol}" if a.balance is not None else ""
                ),
                link=lambda a: reverse("treasury:balances") + f"?account={a.pk}",
                numeric=True,
            ),
            Column("balance_as_of", "As of (UTC)"),
            Column(
                "age",
                "Age",
                value=lambda a: age(a.balance_as_of, now),
                badge=lambda a: age_tone(a.balance_as_of, now),
            ),
            Column("balance_source", "Source"),
        ]

    def dispatch(self, request, *args, **kwargs):
        self.now = clock.now()
        return super().dispatch(request, *args, **kwargs)

    def get_queryset(self):
        return selectors.balances_latest()

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        figures = selectors.lendable_by_asset()
        symbols = dict(Asset.objects.filter(pk__in=figures).values_list("pk", "symbol"))
        inventory = []
        for pk, f in sorted(figures.items(), key=lambda kv: symbols[kv[0]]):
            net = f["lendable"] - f["buffer"]
            inventory.append(
                {
                    "asset": symbols[pk],
                    "lendable": format_amount(f["lendable"]),
                    "buffer": format_amount(f["buffer"]),
                    "net": format_amount(net),
                    "short": net < 0,
                    "accounts": f["accounts"],
                }
            )
        history = selectors.lendable_history(days=30, now=self.now)
        manage = can(self.request.user, MANAGE)
        ctx.update(
            inventory=inventory,
            chart={
                "labels": [d.isoformat() for d in history["days"]],
                "series": [
                    {"asset": s, "values": [format_amount(v) for v in vals]}
                    for s, vals in history["assets"].items()
                ],
            },
            account_form=AccountForm(prefix="acct") if manage else None,
            balance_form=BalanceForm(
                prefix="bal",
                initial={"as_of": self.now.replace(second=0, microsecond=0, tzinfo=None)},
            )
            if manage
            else None,
            import_form=ImportForm(prefix="imp") if manage else None,
            buffer_form=BufferForm(prefix="buf") if manage else None,
        )
        return ctx


class BalanceListView(TablePageView):
    title = "Balance snapshots"
    capability = VIEW
    template_name = "treasury/balances.html"
    filterset_class = BalanceFilter
    export_name = "treasury-balances"
    columns = [
        Column("account.asset.symbol", "Asset"),
        Column("account.venue.code", "Venue"),
        Column("account.purpose", "Purpose"),
        Column(
            "amount",
            "Amount",
            value=lambda s: f"{format_amount(s.amount)} {s.account.asset.symbol}",
            numeric=True,
        ),
        Column("as_of", "As of"),
        Column("source", "Source"),
        Column("received_at", "Received"),
        Column("created_by.username", "Entered by"),
    ]

    def get_queryset(self):
        return BalanceSnapshot.objects.select_related(
            "account__asset", "account__venue", "created_by"
        ).order_by("-as_of", "-id")


class BufferListView(TablePageView):
    title = "Buffer levels"
    capability = VIEW
    template_name = "treasury/buffers.html"
    export_name = "treasury-buffers"
    columns = [
        Column("asset.symbol", "Asset"),
        Column("venue.code", "Venue", value=lambda b: b.venue.code if b.venue else "all venues"),
        Column(
            "minimum",
            "Minimum",
            value=lambda b: f"{format_amount(b.minimum)} {b.asset.symbol}",
            numeric=True,
        ),
        Column("updated_by.username", "Set by"),
        Column("updated_at", "Set at"),
    ]

    def get_queryset(self):
        return BufferLevel.objects.select_related("asset", "venue", "updated_by")

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        ctx["buffer_form"] = BufferForm(prefix="buf") if can(self.request.user, MANAGE) else None
        return ctx


# ---------------------------------------------------------------- actions


class _TreasuryAction(ActionView):
    """A treasury form (open an account, record or import balances, set a buffer): back to
    the page it was posted from (the buffers page, or the accounts page)."""

    capability = MANAGE

    def back_url(self, obj) -> str:
        back = self.request.POST.get("next") or ""
        return back if back in (reverse("treasury:buffers"),) else reverse("treasury:accounts")

    def error_text(self, exc: DomainError) -> str:
        # A file's rows are each named: say all of them.
        if len(exc.errors.get("file", [])) > 1:
            return " ".join(exc.errors["file"])
        return exc.message


def _account_add(user, obj, d, now) -> str:
    a = services.treasury_account_create(
        actor=user,
        venue=Venue.objects.get(code=d["venue"]),
        asset=Asset.objects.get(symbol=d["asset"]),
        purpose=d["purpose"],
        name=d["name"],
        now=now,
    )
    return f"Account {a.asset.symbol} at {a.venue.code} ({a.purpose}) opened."


class AccountAddView(_TreasuryAction):
    action_name = "acct"
    actions = {"acct": Action(AccountForm, MANAGE, "New account", _account_add, prefix="acct")}


def _balance_record(user, obj, d, now) -> str:
    account = TreasuryAccount.objects.select_related("asset", "venue").get(pk=d["account"])
    s = services.balance_record(
        actor=user,
        account=account,
        amount=d["amount"],
        as_of=d["as_of"],
        now=now,
        source="manual",
    )
    return f"Balance of {format_amount(s.amount)} {account.asset.symbol} recorded."


class BalanceRecordView(_TreasuryAction):
    action_name = "bal"
    actions = {"bal": Action(BalanceForm, MANAGE, "Balance", _balance_record, prefix="bal")}


def _balance_import(user, obj, d, now) -> str:
    upload = d["file"]
    result = services.balances_import(
        actor=user, file_obj=upload, filename=upload.name or "", now=now
    )
    return (
        f"Imported {result['stored']} balance(s); "
        f"{result['duplicates']} already stored were skipped."
    )


class BalanceImportView(_TreasuryAction):
    action_name = "imp"
    actions = {"imp": Action(ImportForm, MANAGE, "Import", _balance_import, prefix="imp")}


def _buffer_set(user, obj, d, now) -> str:
    asset = Asset.objects.get(symbol=d["asset"])
    venue = Venue.objects.get(code=d["venue"]) if d["venue"] else None
    services.buffer_level_set(actor=user, asset=asset, venue=venue, minimum=d["minimum"], now=now)
    scope = venue.code if venue else "all venues"
    return f"Buffer for {asset.symbol} ({scope}) set to {format_amount(d['minimum'])}."


class BufferSetView(_TreasuryAction):
    action_name = "buf"
    actions = {"buf": Action(BufferForm, MANAGE, "Buffer", _buffer_set, prefix="buf")}
