"""Every write to reference data. Pages, the API, commands and seed data all come here."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import IntegrityError, models, transaction

from financing.approvals.models import ONE_PENDING_KYC_CHANGE, ApprovalRequest
from financing.approvals.services import approval_request_create
from financing.errors import Conflict, InvalidInput
from financing.history import save_stamped
from financing.refdata.models import Asset, Counterparty, Desk, Venue

KycStatus = Counterparty.KycStatus
KYC_CHANGE = "counterparty.kyc_change"

ASSET_FIELDS = {"name", "decimals", "is_stablecoin", "chains", "is_active"}
VENUE_FIELDS = {"name", "kind", "status"}
DESK_FIELDS = {"name", "risk_profile"}
COUNTERPARTY_FIELDS = {"name", "kind", "jurisdiction", "lei", "risk_rating", "is_active"}
KYC_FIELDS = {"kyc_status", "kyc_expires_on"}


def lei_is_valid(lei: str) -> bool:
    """ISO 17442: 20 characters whose ISO 7064 MOD 97-10 check gives 1."""
    if len(lei) != 20 or not lei.isalnum() or not lei[-2:].isdigit():
        return False
    digits = "".join(str(int(ch, 36)) for ch in lei.upper())
    return int(digits) % 97 == 1


def _save(instance: models.Model, *, actor, reason: str) -> models.Model:
    try:
        instance.full_clean()
    except ValidationError as exc:
        raise InvalidInput.from_django(exc) from None
    try:
        with transaction.atomic():
            save_stamped(instance, actor=actor, reason=reason)
    except IntegrityError:
        # full_clean checked uniqueness, so another writer got there first: say which value
        # collides, in words; the database's own text is for the logs, not for users.
        raise Conflict(_collision_message(instance)) from None
    return instance


def _collision_message(instance: models.Model) -> str:
    meta = instance._meta
    name = str(meta.verbose_name)
    article = "An" if name[:1].lower() in "aeiou" else "A"
    others = type(instance)._default_manager.exclude(pk=instance.pk)
    for field in meta.fields:
        if field.unique and not field.primary_key:
            value = getattr(instance, field.attname)
            if others.filter(**{field.attname: value}).exists():
                return f"{article} {name} with {field.verbose_name} {value} already exists."
    return f"This {name} conflicts with another {name}; reload it and try again."


def _apply(instance: models.Model, fields: dict[str, Any], allowed: set[str]) -> None:
    unknown = set(fields) - allowed
    if unknown:
        name = sorted(unknown)[0]
        raise InvalidInput(f"{name} cannot be changed here.", field=name)
    for key, value in fields.items():
        setattr(instance, key, value)


def asset_create(*, actor, symbol: str, reason: str = "", **fields: Any) -> Asset:
    asset = Asset(symbol=symbol.strip().upper())
    _apply(asset, fields, ASSET_FIELDS)
    return _save(asset, actor=actor, reason=reason or "asset created")


def asset_update(*, actor, asset: Asset, reason: str = "", **fields: Any) -> Asset:
    _apply(asset, fields, ASSET_FIELDS)
    return _save(asset, actor=actor, reason=reason or "asset updated")


def venue_create(*, actor, code: str, reason: str = "", **fields: Any) -> Venue:
    venue = Venue(code=code.strip().upper())
    _apply(venue, fields, VENUE_FIELDS)
    return _save(venue, actor=actor, reason=reason or "venue created")


def venue_update(*, actor, venue: Venue, reason: str = "", **fields: Any) -> Venue:
    _apply(venue, fields, VENUE_FIELDS)
    return _save(venue, actor=actor, reason=reason or "venue updated")


def desk_create(*, actor, code: str, reason: str = "", **fields: Any) -> Desk:
    desk = Desk(code=code.strip().upper())
    _apply(desk, fields, DESK_FIELDS)
    return _save(desk, actor=actor, reason=reason or "desk created")


def desk_get_or_create(*, actor, code: str, reason: str = "") -> Desk:
    """The desk with this code, or a new one named after it (accounts asks for a trading
    user's desk through financing.accounts.hooks)."""
    code = code.strip().upper()
    return Desk.objects.filter(code=code).first() or desk_create(
        actor=actor, code=code, name=f"{code} desk", reason=reason
    )


def desk_update(*, actor, desk: Desk, reason: str = "", **fields: Any) -> Desk:
    _apply(desk, fields, DESK_FIELDS)
    return _save(desk, actor=actor, reason=reason or "desk updated")


def _check_counterparty(cp: Counterparty) -> None:
    cp.jurisdiction = (cp.jurisdiction or "").strip().upper()
    cp.lei = (cp.lei or "").strip().upper()
    if cp.lei and not lei_is_valid(cp.lei):
        raise InvalidInput("Not a valid LEI (ISO 17442: 20 characters, check digits).", field="lei")


def counterparty_create(*, actor, code: str, reason: str = "", **fields: Any) -> Counterparty:
    """A new counterparty starts with KYC pending; compliance approves it (maker-checker)."""
    cp = Counterparty(code=code.strip().upper(), kyc_status=KycStatus.PENDING)
    _apply(cp, fields, COUNTERPARTY_FIELDS)
    _check_counterparty(cp)
    return _save(cp, actor=actor, reason=reason or "counterparty onboarded")


def counterparty_update(*, actor, counterparty: Counterparty, reason: str = "", **fields: Any):
    kyc = KYC_FIELDS & set(fields)
    if kyc:
        name = sorted(kyc)[0]
        raise InvalidInput(
            "KYC status changes go through a KYC change request (maker-checker).", field=name
        )
    _apply(counterparty, fields, COUNTERPARTY_FIELDS)
    _check_counterparty(counterparty)
    return _save(counterparty, actor=actor, reason=reason or "counterparty updated")


def _validate_kyc(status: str, expires_on: date | None, today: date) -> None:
    if status not in KycStatus.values:
        raise InvalidInput(f"Unknown KYC status {status!r}.", field="kyc_status")
    if status == KycStatus.APPROVED:
        if expires_on is None:
            raise InvalidInput("An approved KYC needs an expiry date.", field="kyc_expires_on")
        if expires_on < today:
            raise InvalidInput("The KYC expiry date is in the past.", field="kyc_expires_on")


def counterparty_kyc_change_request(
    *,
    actor,
    counterparty: Counterparty,
    kyc_status: str,
    kyc_expires_on: date | None,
    now: datetime,
    reason: str = "",
):
    """Compliance asks to change a counterparty's KYC status; another compliance user approves.

    One pending change per counterparty: a second request while one waits is a Conflict (the
    database's partial unique index backs this up against two requests at once)."""
    _validate_kyc(kyc_status, kyc_expires_on, now.date())
    if counterparty.kyc_status == kyc_status and counterparty.kyc_expires_on == kyc_expires_on:
        raise InvalidInput("The KYC status and expiry are already these.", field="kyc_status")
    expiry = kyc_expires_on.isoformat() if kyc_expires_on else None
    waiting = _pending_kyc_change(counterparty)
    if waiting is not None:
        raise _kyc_change_pending(counterparty, waiting)
    try:
        with transaction.atomic():
            return approval_request_create(
                action=KYC_CHANGE,
                maker=actor,
                target=counterparty,
                payload={
                    "counterparty": counterparty.code,
                    "kyc_status": kyc_status,
                    "kyc_expires_on": expiry,
                    "previous_status": counterparty.kyc_status,
                    "previous_expires_on": (
                        counterparty.kyc_expires_on.isoformat()
                        if counterparty.kyc_expires_on
                        else None
                    ),
                },
                summary=f"KYC of {counterparty.code}: {counterparty.kyc_status} -> {kyc_status}"
                + (f" until {expiry}" if expiry else ""),
                reason=reason,
                now=now,
            )
    except IntegrityError as exc:
        if getattr(getattr(exc.__cause__, "diag", None), "constraint_name", None) != (
            ONE_PENDING_KYC_CHANGE
        ):
            raise
        raise _kyc_change_pending(counterparty, _pending_kyc_change(counterparty)) from None


def _pending_kyc_change(counterparty: Counterparty):
    return (
        ApprovalRequest.objects.filter(
            action=KYC_CHANGE,
            status=ApprovalRequest.Status.PENDING,
            target_type=ContentType.objects.get_for_model(Counterparty),
            target_id=str(counterparty.pk),
        )
        .order_by("created_at", "id")
        .first()
    )


def _kyc_change_pending(counterparty: Counterparty, waiting) -> Conflict:
    which = f" (#{waiting.pk})" if waiting is not None else ""
    return Conflict(
        f"Counterparty {counterparty.code} already has a KYC change waiting for approval"
        f"{which}. Approve, reject or withdraw it before requesting another."
    )


def counterparty_kyc_set(
    *,
    actor,
    counterparty: Counterparty,
    kyc_status: str,
    kyc_expires_on: date | None,
    today: date,
    reason: str,
) -> Counterparty:
    """Apply a KYC status. Called by the approval of a change request, by the expiry job and by
    seed data, never directly from a page or the API."""
    _validate_kyc(kyc_status, kyc_expires_on, today)
    with transaction.atomic():
        cp = Counterparty.objects.select_for_update(of=("self",)).get(pk=counterparty.pk)
        cp.kyc_status = kyc_status
        cp.kyc_expires_on = kyc_expires_on
        return _save(cp, actor=actor, reason=reason)


def counterparty_assert_can_transact(*, counterparty: Counterparty, on: date) -> None:
    """No new loan, allocation or transfer for a counterparty whose KYC is not approved and
    current (domain.md). Raises InvalidInput naming the counterparty field."""
    if not counterparty.is_active:
        raise InvalidInput(f"Counterparty {counterparty.code} is inactive.", field="counterparty")
    if counterparty.kyc_status != KycStatus.APPROVED:
        raise InvalidInput(
            f"Counterparty {counterparty.code} cannot transact: KYC is {counterparty.kyc_status}.",
            field="counterparty",
        )
    if counterparty.kyc_expires_on is None or counterparty.kyc_expires_on < on:
        raise InvalidInput(
            f"Counterparty {counterparty.code} cannot transact: KYC expired on "
            f"{counterparty.kyc_expires_on}.",
            field="counterparty",
        )


def kyc_expire_due(*, today: date) -> int:
    """Mark approved KYC past its expiry date as expired, with a history row per counterparty."""
    expired = 0
    due = Counterparty.objects.filter(
        kyc_status=KycStatus.APPROVED, kyc_expires_on__lt=today
    ).order_by("pk")
    for cp in due.iterator():
        with transaction.atomic():
            locked = Counterparty.objects.select_for_update(of=("self",)).get(pk=cp.pk)
            if locked.kyc_status != KycStatus.APPROVED or locked.kyc_expires_on >= today:
                continue
            locked.kyc_status = KycStatus.EXPIRED
            save_stamped(locked, actor=None, reason=f"KYC expired on {locked.kyc_expires_on}")
            expired += 1
    return expired
