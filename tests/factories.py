"""factory_boy factories for the platform's models."""

from __future__ import annotations

from datetime import timedelta

import factory
from django.utils import timezone

from financing.accounts.models import User
from financing.refdata.models import Asset, Counterparty, Desk, Venue


class DeskFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Desk
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"DESK{n}")
    name = factory.LazyAttribute(lambda o: f"{o.code} desk")
    risk_profile = "medium"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    role = "ops"
    desk = factory.Maybe(
        factory.LazyAttribute(lambda o: o.role == "trading"), factory.SubFactory(DeskFactory), None
    )
    password = factory.PostGenerationMethodCall("set_password", "pw-for-tests-2026")

    @factory.post_generation
    def _save(obj, create, extracted, **kwargs):
        if create:
            obj.save()


class AssetFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Asset
        django_get_or_create = ("symbol",)

    symbol = factory.Sequence(lambda n: f"TKN{n}")
    name = factory.LazyAttribute(lambda o: f"{o.symbol} token")
    decimals = 8


class VenueFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Venue
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"VENUE{n}")
    name = factory.LazyAttribute(lambda o: f"{o.code} venue")
    kind = "custodian"


class CounterpartyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Counterparty
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"CP{n}")
    name = factory.LazyAttribute(lambda o: f"{o.code} Ltd")
    kind = "fund"
    jurisdiction = "GB"
    risk_rating = "medium"
    kyc_status = "approved"
    kyc_expires_on = factory.LazyFunction(lambda: timezone.now().date() + timedelta(days=365))
