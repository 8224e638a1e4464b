"""Reference data: assets, venues, desks and counterparties (domain.md)."""

from __future__ import annotations

from datetime import date

from django.contrib.postgres.fields import ArrayField
from django.db import models
from simple_history.models import HistoricalRecords

from financing.fields import code_check, code_validator, iso2_validator


class VenueKind(models.TextChoices):
    EXCHANGE = "exchange", "Exchange"
    CUSTODIAN = "custodian", "Custodian"
    BANK = "bank", "Bank"
    PROTOCOL = "protocol", "Protocol"


class VenueStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    SUSPENDED = "suspended", "Suspended"
    CLOSED = "closed", "Closed"


class DeskRiskProfile(models.TextChoices):
    LOW = "low", "Low"
    MEDIUM = "medium", "Medium"
    HIGH = "high", "High"


class CounterpartyKind(models.TextChoices):
    FUND = "fund", "Fund"
    MARKET_MAKER = "market_maker", "Market maker"
    EXCHANGE = "exchange", "Exchange"
    INSTITUTION = "institution", "Institution"
    INTERNAL_DESK = "internal_desk", "Internal desk"


class CounterpartyRiskRating(models.TextChoices):
    LOW = "low", "Low"
    MEDIUM = "medium", "Medium"
    HIGH = "high", "High"
    VERY_HIGH = "very_high", "Very high"


class CounterpartyKycStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    APPROVED = "approved", "Approved"
    EXPIRED = "expired", "Expired"
    REJECTED = "rejected", "Rejected"
    RESTRICTED = "restricted", "Restricted"


class Asset(models.Model):
    symbol = models.CharField(max_length=32, unique=True, validators=[code_validator])
    name = models.CharField(max_length=100)
    decimals = models.PositiveSmallIntegerField(help_text="The asset's own precision (0-18).")
    is_stablecoin = models.BooleanField(default=False)
    chains = ArrayField(models.CharField(max_length=32), default=list, blank=True)
    is_active = models.BooleanField(default=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["symbol"]
        constraints = [
            code_check("symbol", "asset_symbol_format"),
            models.CheckConstraint(
                condition=models.Q(decimals__gte=0, decimals__lte=18), name="asset_decimals_0_18"
            ),
        ]

    def __str__(self) -> str:
        return self.symbol


class Venue(models.Model):
    Kind = VenueKind

    Status = VenueStatus

    code = models.CharField(max_length=32, unique=True, validators=[code_validator])
    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    history = HistoricalRecords()

    class Meta:
        ordering = ["code"]
        constraints = [
            code_check("code", "venue_code_format"),
            models.CheckConstraint(
                condition=models.Q(kind__in=VenueKind.values), name="venue_kind_known"
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=VenueStatus.values), name="venue_status_known"
            ),
        ]

    def __str__(self) -> str:
        return self.code


class Desk(models.Model):
    """A trading desk inside the firm; its risk profile feeds borrow-request priority."""

    RiskProfile = DeskRiskProfile

    code = models.CharField(max_length=32, unique=True, validators=[code_validator])
    name = models.CharField(max_length=100)
    risk_profile = models.CharField(
        max_length=8, choices=RiskProfile.choices, default=RiskProfile.MEDIUM
    )
    history = HistoricalRecords()

    class Meta:
        ordering = ["code"]
        constraints = [
            code_check("code", "desk_code_format"),
            models.CheckConstraint(
                condition=models.Q(risk_profile__in=DeskRiskProfile.values), name="desk_risk_known"
            ),
        ]

    def __str__(self) -> str:
        return self.code


class Counterparty(models.Model):
    Kind = CounterpartyKind

    RiskRating = CounterpartyRiskRating

    KycStatus = CounterpartyKycStatus

    code = models.CharField(max_length=32, unique=True, validators=[code_validator])
    name = models.CharField(max_length=200, help_text="Legal name")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    jurisdiction = models.CharField(
        max_length=2, help_text="ISO 3166-1 alpha-2", validators=[iso2_validator]
    )
    lei = models.CharField("LEI", max_length=20, blank=True, default="")
    risk_rating = models.CharField(max_length=16, choices=RiskRating.choices)
    kyc_status = models.CharField(
        "KYC status", max_length=16, choices=KycStatus.choices, default=KycStatus.PENDING
    )
    kyc_expires_on = models.DateField("KYC expires on", null=True, blank=True)
    is_active = models.BooleanField(default=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["code"]
        verbose_name_plural = "counterparties"
        constraints = [
            code_check("code", "counterparty_code_format"),
            models.CheckConstraint(
                condition=models.Q(kind__in=CounterpartyKind.values), name="counterparty_kind_known"
            ),
            models.CheckConstraint(
                condition=models.Q(risk_rating__in=CounterpartyRiskRating.values),
                name="counterparty_risk_known",
            ),
            models.CheckConstraint(
                condition=models.Q(kyc_status__in=CounterpartyKycStatus.values),
                name="counterparty_kyc_known",
            ),
            models.CheckConstraint(
                condition=~models.Q(kyc_status="approved") | models.Q(kyc_expires_on__isnull=False),
                name="approved_kyc_has_expiry",
            ),
            models.CheckConstraint(
                condition=models.Q(jurisdiction__regex=r"^[A-Z]{2}$"),
                name="counterparty_jurisdiction_iso2",
            ),
            models.CheckConstraint(
                condition=models.Q(lei="") | models.Q(lei__regex=r"^[A-Z0-9]{18}[0-9]{2}$"),
                name="counterparty_lei_format",
            ),
        ]

    def __str__(self) -> str:
        return self.code

    def kyc_is_current(self, on: date) -> bool:
        return (
            self.kyc_status == self.KycStatus.APPROVED
            and self.kyc_expires_on is not None
            and self.kyc_expires_on >= on
        )
