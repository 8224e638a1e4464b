"""Raising, deduplicating, acknowledging and resolving alerts (the services other apps call)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from unittest import mock

import pytest
from django.core import mail
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from financing.alerts import registry
from financing.alerts.models import (
    TRANSITIONS,
    Alert,
    AlertDelivery,
    AlertEvent,
    AlertStatus,
)
from financing.alerts.registry import AlertKind
from financing.alerts.services import (
    AlertSpec,
    alert_acknowledge,
    alert_raise,
    alerts_raise_many,
    alerts_resolve,
)
from financing.errors import Conflict, Forbidden, InvalidInput, NotFound
from tests.alerts.conftest import CALL, NOTICE
from tests.conftest import NOW, run_in_threads
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def _raise(key="loan:42:call", now=NOW, **kw):
    values = {"kind": CALL, "title": "Margin call on L-42", "now": now, "dedupe_key": key}
    values.update(kw)
    return alert_raise(**values)


# ---------------------------------------------------------------- raise and dedupe


def test_raising_writes_an_open_alert_with_the_kind_default_severity_and_a_raised_event():
    alert = _raise(
        body="LTV 0.86 above call level 0.80",
        subject_type="loan",
        subject_id="42",
        subject_url="/loans/42/",
        data={"ltv": Decimal("0.86"), "loan": 42},
    )

    assert (alert.kind, alert.severity, alert.status) == (CALL, "critical", "open")
    assert (alert.subject_type, alert.subject_id, alert.subject_url) == ("loan", "42", "/loans/42/")
    assert alert.raised_at == alert.last_seen_at == NOW and alert.occurrences == 1
    assert alert.data == {"ltv": "0.86", "loan": 42}  # decimals travel as strings
    assert alert.fanned_out_at is None
    [event] = AlertEvent.objects.filter(alert=alert)
    assert (event.from_status, event.to_status, event.actor_id, event.at) == ("", "open", None, NOW)


def test_an_explicit_severity_overrides_the_kind_default():
    assert _raise(severity="warning").severity == "warning"


def test_raising_the_same_key_twice_bumps_one_alert():
    first = _raise(now=NOW)
    second = _raise(now=NOW + timedelta(minutes=5), title="a newer title")

    assert second.pk == first.pk
    assert Alert.objects.count() == 1
    alert = Alert.objects.get()
    assert alert.occurrences == 2
    assert alert.raised_at == NOW and alert.last_seen_at == NOW + timedelta(minutes=5)
    assert alert.title == "Margin call on L-42"  # a repeat does not rewrite the alert
    assert AlertEvent.objects.count() == 1


def test_an_older_repeat_never_moves_last_seen_backwards():
    _raise(now=NOW)
    _raise(now=NOW - timedelta(hours=1))
    assert Alert.objects.get().last_seen_at == NOW


def test_an_acknowledged_alert_still_absorbs_repeats(make_user):
    alert = _raise()
    alert_acknowledge(alert_id=alert.pk, user=make_user("ops"), now=NOW)
    again = _raise(now=NOW + timedelta(minutes=1))
    assert again.pk == alert.pk and again.occurrences == 2 and again.status == "acknowledged"


def test_after_resolve_the_same_key_opens_a_new_alert():
    first = _raise()
    assert alerts_resolve(dedupe_key="loan:42:call", now=NOW + timedelta(minutes=1)) == 1

    second = _raise(now=NOW + timedelta(minutes=2))

    assert second.pk != first.pk and second.occurrences == 1 and second.status == "open"
    assert list(Alert.objects.order_by("id").values_list("status", flat=True)) == [
        "resolved",
        "open",
    ]


def test_alerts_without_a_dedupe_key_are_never_merged():
    a = _raise(key="")
    b = _raise(key="")
    assert a.pk != b.pk and Alert.objects.count() == 2


def test_the_database_refuses_a_second_live_alert_for_a_key():
    from django.db import IntegrityError

    alert = _raise()
    with pytest.raises(IntegrityError), transaction.atomic():
        Alert.objects.create(
            kind=CALL,
            severity="critical",
            title="dup",
            dedupe_key=alert.dedupe_key,
            raised_at=NOW,
            last_seen_at=NOW,
        )


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"kind": "no.such_kind"}, "kind"),
        ({"severity": "urgent"}, "severity"),
        ({"title": "   "}, "title"),
        ({"subject_url": "javascript:alert(1)"}, "subject_url"),
        ({"subject_url": "//evil.example/x"}, "subject_url"),
        ({"subject_id": "x" * 65}, "subject_id"),
        ({"key": "k" * 201}, "dedupe_key"),
        ({"data": {"blob": "x" * 70_000}}, "data"),
        ({"data": {"when": object()}}, "data"),
        ({"data": ["not", "an", "object"]}, "data"),
    ],
)
def test_a_bad_alert_is_refused_and_writes_nothing(changes, field):
    with pytest.raises(InvalidInput) as exc:
        _raise(**changes)
    assert field in exc.value.errors
    assert Alert.objects.count() == 0 and AlertEvent.objects.count() == 0


def test_a_long_title_is_shortened_not_refused():
    alert = _raise(title="x" * 500)
    assert len(alert.title) == 200 and alert.title.endswith("…")


def test_an_absolute_http_subject_url_is_accepted():
    assert _raise(subject_url="https://explorer.example/tx/0xabc").subject_url.startswith("https")


def test_raising_does_no_delivery_itself_and_queues_the_job_once_per_transaction(
    django_capture_on_commit_callbacks,
):
    with (
        mock.patch("financing.jobs.tasks.run_job_task.delay") as delay,
        django_capture_on_commit_callbacks(execute=True) as callbacks,
    ):
        with transaction.atomic():
            _raise(key="a")
            _raise(key="b")
            alerts_raise_many([AlertSpec(kind=CALL, title="c", dedupe_key="c")], now=NOW)
        assert AlertDelivery.objects.count() == 0 and mail.outbox == []
    assert len(callbacks) >= 1
    delay.assert_called_once_with("deliver_alerts", "event", "alerts")


def test_only_a_new_alert_queues_the_delivery_job():
    with mock.patch("financing.alerts.services.raising._kick_delivery") as kick:
        _raise()
        assert kick.call_count == 1
        _raise(now=NOW + timedelta(minutes=1))
        alerts_raise_many([AlertSpec(kind=CALL, title="again", dedupe_key="loan:42:call")], now=NOW)
        assert kick.call_count == 1


@pytest.mark.django_db(transaction=True)
def test_a_broker_that_is_down_does_not_fail_the_raise():
    with mock.patch(
        "financing.jobs.tasks.run_job_task.delay", side_effect=ConnectionError("broker down")
    ) as delay:
        alert = _raise()
    assert delay.called
    assert Alert.objects.filter(pk=alert.pk, status="open").exists()


# ---------------------------------------------------------------- many at once


def test_raise_many_opens_new_alerts_and_bumps_live_ones():
    _raise(key="price:BTC:stale")
    specs = [
        AlertSpec(kind=CALL, title="BTC stale", dedupe_key="price:BTC:stale"),
        AlertSpec(kind=CALL, title="ETH stale", dedupe_key="price:ETH:stale"),
        AlertSpec(kind=CALL, title="ETH stale again", dedupe_key="price:ETH:stale"),
        AlertSpec(kind=NOTICE, title="no key"),
        AlertSpec(kind=NOTICE, title="no key either", severity="warning", data={"n": 1}),
    ]

    created = alerts_raise_many(specs, now=NOW + timedelta(minutes=1))

    assert created == 3
    rows = {a.dedupe_key or a.title: a for a in Alert.objects.all()}
    assert rows["price:BTC:stale"].occurrences == 2
    assert rows["price:ETH:stale"].occurrences == 2
    assert rows["price:ETH:stale"].title == "ETH stale"  # the first spec's content
    assert rows["no key either"].severity == "warning" and rows["no key either"].data == {"n": 1}
    assert rows["no key"].severity == "info"
    assert AlertEvent.objects.filter(to_status="open").count() == 4


def test_raise_many_is_one_statement_for_500_alerts(django_assert_max_num_queries):
    specs = [
        AlertSpec(
            kind=CALL,
            title=f"Loan {i} in call",
            subject_type="loan",
            subject_id=str(i),
            subject_url=f"/loans/{i}/",
            dedupe_key=f"loan:{i}:call",
            data={"ltv": f"0.8{i % 10}"},
        )
        for i in range(500)
    ]
    with django_assert_max_num_queries(3):  # savepoint, the INSERT, release
        assert alerts_raise_many(specs, now=NOW) == 500
    with django_assert_max_num_queries(3):
        assert alerts_raise_many(specs, now=NOW + timedelta(minutes=1)) == 0
    assert Alert.objects.count() == 500
    assert set(Alert.objects.values_list("occurrences", flat=True)) == {2}
    assert AlertEvent.objects.count() == 500


def test_raise_many_validates_everything_before_writing():
    specs = [AlertSpec(kind=CALL, title="fine", dedupe_key="a"), AlertSpec(kind="nope", title="x")]
    with pytest.raises(InvalidInput):
        alerts_raise_many(specs, now=NOW)
    assert Alert.objects.count() == 0


def test_raise_many_with_nothing_writes_nothing(django_assert_num_queries):
    with django_assert_num_queries(0):
        assert alerts_raise_many([], now=NOW) == 0


# ---------------------------------------------------------------- acknowledge


def test_acknowledge_records_who_and_when_with_an_event(make_user):
    ops = make_user("ops")
    alert = _raise()

    acked = alert_acknowledge(alert_id=alert.pk, user=ops, now=NOW, note="on it")

    assert (acked.status, acked.acknowledged_by, acked.acknowledged_at) == (
        "acknowledged",
        ops,
        NOW,
    )
    event = AlertEvent.objects.filter(alert=alert).last()
    assert (event.from_status, event.to_status, event.actor, event.note) == (
        "open",
        "acknowledged",
        ops,
        "on it",
    )


def test_acknowledging_twice_is_a_conflict_and_changes_nothing(make_user):
    first, second = make_user("ops"), make_user("risk")
    alert = _raise()
    alert_acknowledge(alert_id=alert.pk, user=first, now=NOW)

    with pytest.raises(Conflict):
        alert_acknowledge(alert_id=alert.pk, user=second, now=NOW + timedelta(minutes=1))

    alert.refresh_from_db()
    assert alert.acknowledged_by == first and alert.acknowledged_at == NOW
    assert AlertEvent.objects.filter(alert=alert).count() == 2


def test_acknowledging_a_resolved_alert_is_a_conflict(make_user):
    alert = _raise()
    alerts_resolve(alert_id=alert.pk, now=NOW)
    with pytest.raises(Conflict):
        alert_acknowledge(alert_id=alert.pk, user=make_user("ops"), now=NOW)


@pytest.mark.parametrize("role", ["trading", "auditor"])
def test_roles_without_alerts_act_cannot_acknowledge_or_resolve(make_user, role):
    user = make_user(role)
    alert = _raise()
    with pytest.raises(Forbidden):
        alert_acknowledge(alert_id=alert.pk, user=user, now=NOW)
    with pytest.raises(Forbidden):
        alerts_resolve(alert_id=alert.pk, user=user, now=NOW)
    assert Alert.objects.get(pk=alert.pk).status == "open"


def test_acknowledging_an_unknown_alert_is_not_found(make_user):
    with pytest.raises(NotFound):
        alert_acknowledge(alert_id=987654, user=make_user("ops"), now=NOW)


def test_the_transitions_map_never_leaves_resolved():
    assert TRANSITIONS[AlertStatus.RESOLVED] == frozenset()
    assert AlertStatus.OPEN not in TRANSITIONS[AlertStatus.ACKNOWLEDGED]


# ---------------------------------------------------------------- resolve


def test_system_resolve_by_key_records_no_user_and_is_idempotent():
    alert = _raise()
    assert alerts_resolve(dedupe_key=alert.dedupe_key, now=NOW, note="LTV back below call") == 1
    assert alerts_resolve(dedupe_key=alert.dedupe_key, now=NOW) == 0

    alert.refresh_from_db()
    assert (alert.status, alert.resolved_by, alert.resolved_at) == ("resolved", None, NOW)
    assert alert.resolution_note == "LTV back below call"
    event = AlertEvent.objects.filter(alert=alert).last()
    assert (event.from_status, event.to_status, event.actor) == ("open", "resolved", None)


def test_resolve_by_prefix_clears_only_matching_live_alerts(make_user):
    _raise(key="loan:42:call")
    acked = _raise(key="loan:42:warning")
    alert_acknowledge(alert_id=acked.pk, user=make_user("ops"), now=NOW)
    _raise(key="loan:420:call")
    _raise(key="loan:4_:call")  # an underscore in the prefix is no wildcard

    assert alerts_resolve(dedupe_prefix="loan:42:", now=NOW) == 2

    live = set(Alert.objects.exclude(status="resolved").values_list("dedupe_key", flat=True))
    assert live == {"loan:420:call", "loan:4_:call"}
    froms = sorted(
        AlertEvent.objects.filter(to_status="resolved").values_list("from_status", flat=True)
    )
    assert froms == ["acknowledged", "open"]


def test_a_user_resolving_by_id_records_them_and_twice_is_a_conflict(make_user):
    risk = make_user("risk")
    alert = _raise()
    assert alerts_resolve(alert_id=alert.pk, user=risk, now=NOW, note="topped up") == 1
    with pytest.raises(Conflict):
        alerts_resolve(alert_id=alert.pk, user=risk, now=NOW)
    alert.refresh_from_db()
    assert alert.resolved_by == risk and alert.resolution_note == "topped up"


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"dedupe_key": "a", "alert_id": 1}, {"dedupe_prefix": ""}, {"dedupe_key": ""}],
)
def test_resolve_needs_exactly_one_non_empty_selector(kwargs):
    _raise()
    with pytest.raises(InvalidInput):
        alerts_resolve(now=NOW, **kwargs)
    assert Alert.objects.get().status == "open"


def test_resolving_an_unknown_alert_id_is_not_found():
    with pytest.raises(NotFound):
        alerts_resolve(alert_id=987654, now=NOW)


def test_a_huge_note_is_refused(make_user):
    alert = _raise()
    with pytest.raises(InvalidInput):
        alerts_resolve(alert_id=alert.pk, user=make_user("ops"), now=NOW, note="x" * 5000)
    assert Alert.objects.get().status == "open"


def test_resolving_thousands_is_one_statement(django_assert_max_num_queries):
    alerts_raise_many(
        [AlertSpec(kind=CALL, title=f"{i}", dedupe_key=f"price:{i}:stale") for i in range(1000)],
        now=NOW,
    )
    with django_assert_max_num_queries(3):
        assert alerts_resolve(dedupe_prefix="price:", now=NOW) == 1000
    assert AlertEvent.objects.filter(to_status="resolved").count() == 1000


# ---------------------------------------------------------------- the registry


def test_registering_a_bad_kind_is_refused():
    with pytest.raises(ValueError):
        registry.register_kind(AlertKind("Bad Name", "x", "info", ()))
    with pytest.raises(ValueError):
        registry.register_kind(AlertKind("ok_name", "x", "urgent", ()))
    with pytest.raises(ValueError):
        registry.register_kind(AlertKind("ok_name", "x", "info", ("pirates",)))


def test_kinds_for_a_role_follow_the_registry():
    assert CALL in registry.kinds_for_role("risk")
    assert CALL not in registry.kinds_for_role("treasury")
    assert NOTICE in registry.kinds_for_role("treasury")


# ---------------------------------------------------------------- concurrency


@pytest.mark.django_db(transaction=True)
def test_concurrent_raises_of_one_key_make_one_alert():
    n = 8
    with mock.patch("financing.jobs.tasks.run_job_task.delay"):
        results = run_in_threads(
            n, lambda i: _raise(now=NOW + timedelta(seconds=i), title=f"raise {i}").pk
        )

    assert not [r for r in results if isinstance(r, Exception)], results
    assert len(set(results)) == 1
    alert = Alert.objects.get()
    assert alert.occurrences == n
    assert AlertEvent.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_bulk_raises_over_overlapping_keys_neither_duplicate_nor_deadlock():
    def raise_batch(i):
        keys = range(0, 300) if i % 2 == 0 else reversed(range(100, 400))
        specs = [AlertSpec(kind=CALL, title=f"k{k}", dedupe_key=f"k{k}") for k in keys]
        return alerts_raise_many(specs, now=NOW)

    with mock.patch("financing.jobs.tasks.run_job_task.delay"):
        results = run_in_threads(4, raise_batch)

    assert not [r for r in results if isinstance(r, Exception)], results
    assert sum(results) == 400 == Alert.objects.count()
    with connection.cursor() as cur:
        cur.execute("SELECT sum(occurrences) FROM alerts_alert")
        assert cur.fetchone()[0] == 4 * 300


@pytest.mark.django_db(transaction=True)
def test_concurrent_acknowledgements_let_exactly_one_person_win():
    users = [UserFactory(role="ops") for _ in range(4)]
    with mock.patch("financing.jobs.tasks.run_job_task.delay"):
        alert = _raise()
    results = run_in_threads(
        4, lambda i: alert_acknowledge(alert_id=alert.pk, user=users[i], now=NOW).status
    )
    assert results.count("acknowledged") == 1
    assert sum(isinstance(r, Conflict) for r in results) == 3
    assert AlertEvent.objects.filter(to_status="acknowledged").count() == 1


def test_raise_reads_back_its_alert_in_a_bounded_number_of_queries():
    with CaptureQueriesContext(connection) as ctx:
        _raise()
    assert len(ctx.captured_queries) <= 6
