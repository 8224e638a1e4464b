"""The bench's own parts (the full run is `make bench`, not a test): its groups register when
the command's package is imported, its server's URLconf adds the bare baseline beside every
product route, and a p99 of nothing never passes a target."""

from __future__ import annotations

import math

import pytest
from django.test import override_settings
from django.urls import resolve

from devtools import bench
from devtools.bench.server import p99
from devtools.benchserver.urls import BARE_PATH
from tests.factories import CounterpartyFactory


def test_importing_the_bench_registers_every_group_in_order():
    assert [g.name for g in bench.groups()] == [
        "accrual",
        "loan_list",
        "revaluation",
        "borrow_desk",
    ]


def test_p99_is_the_99th_percentile_and_infinite_without_samples():
    assert p99([float(ms) for ms in range(1, 201)]) == 198.0
    assert math.isinf(p99([]))


@pytest.mark.django_db
@override_settings(ROOT_URLCONF="devtools.benchserver.urls")
def test_the_bench_server_serves_the_bare_list_beside_the_product_routes(api, make_user):
    CounterpartyFactory.create_batch(55)

    resp = api(make_user("ops")).get(BARE_PATH)

    assert resp.status_code == 200
    body = resp.json()
    assert body["count"] == 55 and len(body["results"]) == 50
    assert set(body["results"][0]) == {
        "id",
        "code",
        "name",
        "kind",
        "jurisdiction",
        "risk_rating",
        "kyc_status",
    }
    assert resolve("/api/loans/").url_name  # the product's routes are all still there


def test_the_product_urlconf_has_no_bench_route():
    from django.urls import Resolver404

    with pytest.raises(Resolver404):
        resolve(BARE_PATH)
