"""What differs between the four kinds of reference record on the pages: list columns, detail
fields, form, filters, services and the capability that manages them; and the KYC display rules
(badge tones, days left) shared by the list and the detail page."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

from django.urls import reverse

from financing.dashboard.tables import Column
from financing.refdata import filters, forms, services
from financing.refdata.models import Asset, Counterparty, Desk, Venue

KYC_CHANGE = "counterparty.kyc_change"
KYC_TONE = {"approved": "ok", "pending": "warn"}
VENUE_TONE = {"active": "ok", "suspended": "warn"}
#: Approved KYC expiring within this many days is shown as a warning.
KYC_WARN_DAYS = 30


def kyc_tone(cp: Counterparty) -> str:
    return KYC_TONE.get(cp.kyc_status, "bad")


def kyc_days_left(cp: Counterparty, today: date) -> int | None:
    if cp.kyc_expires_on is None:
        return None
    return (cp.kyc_expires_on - today).days


def kyc_expiry_text(cp: Counterparty, today: date) -> str:
    """'2027-07-19 · 240 d left', '2026-11-01 · expired 20 d ago', '' when there is none."""
    days = kyc_days_left(cp, today)
    if days is None:
        return ""
    if days > 0:
        when = f"{days} d left"
    elif days == 0:
        when = "expires today"
    else:
        when = f"expired {-days} d ago"
    return f"{cp.kyc_expires_on:%Y-%m-%d} · {when}"


def kyc_expiry_tone(cp: Counterparty, today: date) -> str | None:
    """Only an approved KYC's expiry matters for transacting: bad when past, warn when near."""
    days = kyc_days_left(cp, today)
    if days is None or cp.kyc_status != Counterparty.KycStatus.APPROVED:
        return None
    if days < 0:
        return "bad"
    return "warn" if days <= KYC_WARN_DAYS else None


def _active(obj) -> str:
    return "Active" if obj.is_active else "Inactive"


def _active_tone(obj) -> str:
    return "ok" if obj.is_active else "neutral"


@dataclass(frozen=True)
class Field:
    """One line of a detail page: label, value(obj, today) -> text, optional badge tone."""

    label: str
    value: Callable[[Any, date], Any]
    tone: Callable[[Any, date], str | None] | None = None
    mono: bool = False


def _attr(name: str) -> Callable[[Any, date], Any]:
    return lambda obj, today: getattr(obj, name)


def _choice(name: str) -> Callable[[Any, date], Any]:
    return lambda obj, today: getattr(obj, f"get_{name}_display")()


@dataclass(frozen=True)
class Kind:
    name: str
    model: type
    key: str
    title: str
    form: type[forms.RefDataForm]
    filterset: type
    create: Callable[..., Any]
    update: Callable[..., Any]
    manage: str
    columns: Callable[[Kind, date], list[Column]]
    fields: tuple[Field, ...]
    intro: str = ""

    @property
    def verbose_name(self) -> str:
        return str(self.model._meta.verbose_name)

    def key_of(self, obj) -> str:
        return getattr(obj, self.key)

    def url(self, view: str, obj=None) -> str:
        args = [self.key_of(obj)] if obj is not None else []
        return reverse(f"refdata:{self.name}-{view}", args=args)

    def link(self) -> Callable[[Any], str]:
        return lambda obj: self.url("detail", obj)


def _asset_columns(kind: Kind, today: date) -> list[Column]:
    return [
        Column("symbol", "Symbol", link=kind.link()),
        Column("name", "Name"),
        Column("decimals", "Decimals", numeric=True),
        Column("is_stablecoin", "Stablecoin"),
        Column("chains", "Chains"),
        Column("is_active", "Status", value=_active, badge=_active_tone),
    ]


def _venue_columns(kind: Kind, today: date) -> list[Column]:
    return [
        Column("code", "Code", link=kind.link()),
        Column("name", "Name"),
        Column("kind", "Type", value=lambda o: o.get_kind_display()),
        Column(
            "status",
            "Status",
            value=lambda o: o.get_status_display(),
            badge=lambda o: VENUE_TONE.get(o.status, "bad"),
        ),
    ]


def _desk_columns(kind: Kind, today: date) -> list[Column]:
    return [
        Column("code", "Code", link=kind.link()),
        Column("name", "Name"),
        Column("risk_profile", "Risk profile", value=lambda o: o.get_risk_profile_display()),
    ]


def _pending_kyc_link(cp) -> str | None:
    pk = getattr(cp, "pending_kyc_approval", None)
    return reverse("approvals:detail", args=[pk]) if pk else None


def _counterparty_columns(kind: Kind, today: date) -> list[Column]:
    return [
        Column("code", "Code", link=kind.link()),
        Column("name", "Legal name"),
        Column("kind", "Type", value=lambda o: o.get_kind_display()),
        Column("jurisdiction", "Jurisdiction"),
        Column("risk_rating", "Risk rating", value=lambda o: o.get_risk_rating_display()),
        Column("kyc_status", "KYC", value=lambda o: o.get_kyc_status_display(), badge=kyc_tone),
        Column(
            "kyc_expires_on",
            "KYC expires",
            badge=lambda o: kyc_expiry_tone(o, today),
        ),
        Column(
            "pending_kyc_approval",
            "Pending change",
            value=lambda o: f"#{o.pending_kyc_approval}" if o.pending_kyc_approval else "",
            link=_pending_kyc_link,
        ),
        Column("is_active", "Status", value=_active, badge=_active_tone),
    ]


KINDS: dict[str, Kind] = {
    "asset": Kind(
        name="asset",
        model=Asset,
        key="symbol",
        title="Assets",
        form=forms.AssetForm,
        filterset=filters.AssetFilter,
        create=services.asset_create,
        update=services.asset_update,
        manage="refdata.manage",
        columns=_asset_columns,
        fields=(
            Field("Symbol", _attr("symbol"), mono=True),
            Field("Name", _attr("name")),
            Field("Decimals", _attr("decimals"), mono=True),
            Field("Stablecoin", _attr("is_stablecoin")),
            Field("Chains", _attr("chains")),
            Field("Status", lambda o, t: _active(o), tone=lambda o, t: _active_tone(o)),
        ),
        intro="Amounts in an asset settle to its own decimals (8 for BTC, 18 for ETH).",
    ),
    "venue": Kind(
        name="venue",
        model=Venue,
        key="code",
        title="Venues",
        form=forms.VenueForm,
        filterset=filters.VenueFilter,
        create=services.venue_create,
        update=services.venue_update,
        manage="refdata.manage",
        columns=_venue_columns,
        fields=(
            Field("Code", _attr("code"), mono=True),
            Field("Name", _attr("name")),
            Field("Type", _choice("kind")),
            Field("Status", _choice("status"), tone=lambda o, t: VENUE_TONE.get(o.status, "bad")),
        ),
        intro="Exchanges, custodians, banks and protocols where assets sit.",
    ),
    "desk": Kind(
        name="desk",
        model=Desk,
        key="code",
        title="Desks",
        form=forms.DeskForm,
        filterset=filters.DeskFilter,
        create=services.desk_create,
        update=services.desk_update,
        manage="refdata.manage",
        columns=_desk_columns,
        fields=(
            Field("Code", _attr("code"), mono=True),
            Field("Name", _attr("name")),
            Field("Risk profile", _choice("risk_profile")),
        ),
        intro="Trading desks inside the firm; trading-desk users belong to one.",
    ),
    "counterparty": Kind(
        name="counterparty",
        model=Counterparty,
        key="code",
        title="Counterparties",
        form=forms.CounterpartyForm,
        filterset=filters.CounterpartyFilter,
        create=services.counterparty_create,
        update=services.counterparty_update,
        manage="counterparty.manage",
        columns=_counterparty_columns,
        fields=(
            Field("Code", _attr("code"), mono=True),
            Field("Legal name", _attr("name")),
            Field("Type", _choice("kind")),
            Field("Jurisdiction", _attr("jurisdiction")),
            Field("LEI", _attr("lei"), mono=True),
            Field("Risk rating", _choice("risk_rating")),
            Field("KYC status", _choice("kyc_status"), tone=lambda o, t: kyc_tone(o)),
            Field("KYC expires on", kyc_expiry_text, tone=kyc_expiry_tone),
            Field("Status", lambda o, t: _active(o), tone=lambda o, t: _active_tone(o)),
        ),
        intro="A counterparty can transact (loans, allocations, transfers) only while its KYC "
        "is approved and current.",
    ),
}
