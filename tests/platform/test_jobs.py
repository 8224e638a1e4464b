"""Jobs: each run records a JobRun; runs never overlap (advisory lock); failures are recorded and
re-raised; beat runs every scheduled job through one task; a real worker consumes it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import connection, connections

from financing import clock
from financing.accounts.roles import Role
from financing.audit.models import ActivityEntry
from financing.jobs import registry
from financing.jobs.models import JobRun
from financing.jobs.services import job_run, lock_key
from financing.refdata.models import Counterparty
from financing.refdata.services import kyc_expire_due
from tests.factories import CounterpartyFactory

BASE_DIR = Path(settings.BASE_DIR)
TODAY = datetime(2026, 11, 20, tzinfo=UTC).date()


def _kyc_book(today):
    """One counterparty per case of the expiry rule; returns their codes by expected outcome."""
    CounterpartyFactory(code="DUE", kyc_status="approved", kyc_expires_on=today - timedelta(days=1))
    CounterpartyFactory(
        code="LONGDUE", kyc_status="approved", kyc_expires_on=today - timedelta(days=400)
    )
    CounterpartyFactory(code="TODAY", kyc_status="approved", kyc_expires_on=today)
    CounterpartyFactory(code="FUTURE", kyc_status="approved", kyc_expires_on=today + timedelta(1))
    CounterpartyFactory(
        code="PENDING", kyc_status="pending", kyc_expires_on=today - timedelta(days=3)
    )
    CounterpartyFactory(
        code="RESTRICTED", kyc_status="restricted", kyc_expires_on=today - timedelta(days=3)
    )
    return {"expired": {"DUE", "LONGDUE"}, "kept": {"TODAY", "FUTURE", "PENDING", "RESTRICTED"}}


def _statuses() -> dict[str, str]:
    return dict(Counterparty.objects.values_list("code", "kyc_status"))


# --- the expiry rule (service, time frozen by passing today) ---------------------------------


def test_expire_kyc_expires_only_approved_counterparties_past_expiry(db):
    cases = _kyc_book(TODAY)
    before = _statuses()

    assert kyc_expire_due(today=TODAY) == 2

    after = _statuses()
    assert {code for code in after if after[code] == "expired"} == cases["expired"]
    assert {code: after[code] for code in cases["kept"]} == {
        code: before[code] for code in cases["kept"]
    }
    assert kyc_expire_due(today=TODAY) == 0  # idempotent


def test_expire_kyc_writes_history_and_activity_without_a_user(db):
    _kyc_book(TODAY)

    kyc_expire_due(today=TODAY)

    cp = Counterparty.objects.get(code="DUE")
    latest = cp.history.latest("history_date")
    assert latest.kyc_status == "expired"
    assert latest.history_user is None
    assert latest.history_change_reason == f"KYC expired on {TODAY - timedelta(days=1)}"
    entry = ActivityEntry.objects.get(model="counterparty", history_id=latest.history_id)
    assert entry.changed_fields == ["kyc_status"]
    assert entry.user is None
    assert Counterparty.objects.get(code="FUTURE").history.count() == 1


def test_job_run_refuses_to_run_inside_a_transaction(db):
    with pytest.raises(RuntimeError, match="own their transactions"):
        job_run("expire_kyc")
    assert not JobRun.objects.exists()


# --- job_run ---------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_job_run_records_a_succeeded_run_with_counts():
    today = clock.business_date()
    cases = _kyc_book(today)

    run = job_run("expire_kyc", trigger=JobRun.Trigger.TEST, requested_by="pytest")

    run = JobRun.objects.get(pk=run.pk)
    assert (run.job, run.status, run.trigger, run.requested_by) == (
        "expire_kyc",
        "succeeded",
        "test",
        "pytest",
    )
    assert run.counts == {"expired": len(cases["expired"])}
    assert run.finished_at >= run.started_at
    assert run.error == ""
    assert {c for c, s in _statuses().items() if s == "expired"} == cases["expired"]
    # driven by state: a second run finds nothing left to do
    assert job_run("expire_kyc", trigger=JobRun.Trigger.TEST).counts == {"expired": 0}


@pytest.mark.django_db(transaction=True)
def test_a_failing_job_is_recorded_as_failed_and_re_raised(failing_job):
    with pytest.raises(ValueError, match="the ledger is on fire"):
        job_run(failing_job.name, trigger=JobRun.Trigger.TEST)

    run = JobRun.objects.get(job=failing_job.name)
    assert run.status == "failed"
    assert run.error == "ValueError: the ledger is on fire"
    assert run.finished_at is not None
    assert run.counts == {}


@pytest.mark.django_db(transaction=True)
def test_a_run_that_finds_the_lock_held_by_another_connection_is_skipped():
    _kyc_book(clock.business_date())
    other = connections.create_connection("default")
    try:
        with other.cursor() as cur:
            cur.execute("SELECT pg_advisory_lock(%s)", [lock_key("job:expire_kyc")])

        run = job_run("expire_kyc", trigger=JobRun.Trigger.TEST)

        assert JobRun.objects.get(pk=run.pk).status == "skipped"
        assert run.counts == {}
        assert "expired" not in _statuses().values()  # the job's work did not run
        # Unlock before closing: the server drops a closed session's locks a moment after
        # close() returns, so the run below could still find the lock held.
        with other.cursor() as cur:
            cur.execute("SELECT pg_advisory_unlock(%s)", [lock_key("job:expire_kyc")])
    finally:
        other.close()

    after = job_run("expire_kyc", trigger=JobRun.Trigger.TEST)
    assert after.status == "succeeded"
    assert after.counts == {"expired": 2}


@pytest.mark.django_db(transaction=True)
def test_a_job_releases_its_lock_after_failing(failing_job):
    with pytest.raises(ValueError):
        job_run(failing_job.name)
    with connection.cursor() as cur:
        cur.execute("SELECT pg_try_advisory_lock(%s)", [lock_key(f"job:{failing_job.name}")])
        assert cur.fetchone()[0] is True
        cur.execute("SELECT pg_advisory_unlock(%s)", [lock_key(f"job:{failing_job.name}")])


# --- overview and schedule -------------------------------------------------------------------


def _overview(api, make_user) -> dict[str, dict]:
    resp = api(make_user(Role.OPS)).get("/api/jobs/overview/")
    assert resp.status_code == 200
    return {row["job"]: row for row in resp.json()}


def test_jobs_overview_marks_a_never_run_job_overdue(api, make_user):
    rows = _overview(api, make_user)

    assert set(rows) == {job.name for job in registry.all_jobs()}
    row = rows["expire_kyc"]
    assert row["overdue"] is True
    assert row["last_status"] is None
    assert row["last_success_at"] is None
    assert row["schedule"] == "daily 00:05 UTC"


def test_jobs_overview_clears_overdue_after_a_recent_success_and_counts_failures(api, make_user):
    now = clock.now()

    def run(job, status, hours_ago):
        at = now - timedelta(hours=hours_ago)
        JobRun.objects.create(
            job=job, status=status, started_at=at, finished_at=at + timedelta(seconds=1)
        )

    run("expire_kyc", "succeeded", 1)
    run("expire_kyc", "failed", 0.5)
    run("purge_idempotency_keys", "succeeded", 30)  # older than its 26 h expectation

    rows = _overview(api, make_user)

    assert rows["expire_kyc"]["overdue"] is False
    assert rows["expire_kyc"]["last_status"] == "failed"
    assert rows["expire_kyc"]["failures_24h"] == 1
    assert rows["purge_idempotency_keys"]["overdue"] is True


def test_jobs_list_shows_runs_newest_first_and_filters(api, make_user):
    now = clock.now()
    for i, status in enumerate(["succeeded", "failed", "skipped"]):
        at = now - timedelta(minutes=10 - i)
        JobRun.objects.create(job="expire_kyc", status=status, started_at=at, finished_at=at)
    client = api(make_user(Role.OPS))

    runs = client.get("/api/jobs/").json()
    failed = client.get("/api/jobs/", {"status": "failed"}).json()

    assert [r["status"] for r in runs["results"]] == ["skipped", "failed", "succeeded"]
    assert [r["status"] for r in failed["results"]] == ["failed"]


def test_running_an_unknown_job_is_404(api, make_user):
    assert api(make_user(Role.OPS)).post("/api/jobs/no_such_job/run/").status_code == 404


def test_beat_schedule_runs_every_scheduled_job_through_jobs_run():
    from financing.celery import app
    from financing.jobs import tasks

    schedule = registry.beat_schedule()
    scheduled = {job.name for job in registry.all_jobs() if job.schedule is not None}

    assert scheduled >= {"expire_kyc", "purge_idempotency_keys"}
    assert set(schedule) == scheduled
    for name, entry in schedule.items():
        assert entry["task"] == "jobs.run"
        assert entry["args"] == (name, "beat")
        assert entry["schedule"] is registry.get(name).schedule
    # Reading app.tasks finalizes the app, which installs the registry's schedule.
    assert app.tasks["jobs.run"].run is tasks.run_job_task.run
    assert set(app.conf.beat_schedule) == scheduled


def test_a_job_without_a_schedule_is_not_in_the_beat_schedule(failing_job):
    assert failing_job.name not in registry.beat_schedule()


# --- end to end: a real worker consumes the task from the broker -----------------------------


def _test_database_url() -> str:
    s = connection.settings_dict
    name = s["NAME"]
    host = s.get("HOST") or s.get("OPTIONS", {}).get("host", "")
    user = quote(s.get("USER") or "", safe="")
    password = quote(s.get("PASSWORD") or "", safe="")
    credentials = f"{user}:{password}@" if password else f"{user}@"
    if host.startswith("/"):  # a unix socket directory (the embedded server)
        return f"postgresql://{credentials}/{name}?host={quote(host, safe='/')}"
    port = f":{s['PORT']}" if s.get("PORT") else ""
    return f"postgres://{credentials}{host}{port}/{name}"


@pytest.mark.django_db(transaction=True)
def test_a_real_celery_worker_runs_a_queued_job_into_the_database(tmp_path, monkeypatch):
    from celery import Celery

    today = clock.business_date()
    CounterpartyFactory(code="DUE", kyc_status="approved", kyc_expires_on=today - timedelta(1))

    env_broker = os.environ.get("CELERY_BROKER_URL", "")
    env = {
        **os.environ,
        "DEBUG": "true",
        "DATABASE_URL": _test_database_url(),
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("CELERY_TASK_ALWAYS_EAGER", None)
    if env_broker.startswith(("redis://", "rediss://")):
        broker, options = env_broker, {}
        queue = f"platform-test-{uuid.uuid4().hex}"  # shared Redis: nobody else consumes it
    else:
        folder = tmp_path / "broker"
        options = {
            "data_folder_in": str(folder / "queue"),
            "data_folder_out": str(folder / "queue"),
            "processed_folder": str(folder / "processed"),
            "control_folder": str(folder / "control"),
            "store_processed": False,
        }
        for key in ("data_folder_in", "processed_folder", "control_folder"):
            Path(options[key]).mkdir(parents=True, exist_ok=True)
        broker, queue = "filesystem://", "celery"
        env["CELERY_FILESYSTEM_DIR"] = str(folder)
    env["CELERY_BROKER_URL"] = broker

    log = tmp_path / "worker.log"
    celery_bin = Path(sys.executable).parent / "celery"
    worker = subprocess.Popen(
        [
            str(celery_bin),
            "-A",
            "financing",
            "worker",
            "--pool",
            "solo",
            "--without-mingle",
            "--without-gossip",
            "--without-heartbeat",
            "-Q",
            queue,
            "--loglevel",
            "INFO",
        ],
        cwd=BASE_DIR,
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    # Celery reads CELERY_BROKER_URL from the environment before any app's configuration.
    monkeypatch.setenv("CELERY_BROKER_URL", broker)
    producer = Celery("platform-test-producer", broker=broker, set_as_current=False)
    producer.conf.broker_transport_options = options
    try:
        producer.send_task("jobs.run", args=["expire_kyc", "test", "e2e"], queue=queue)

        deadline = time.monotonic() + 60
        run = None
        while time.monotonic() < deadline:
            run = JobRun.objects.filter(job="expire_kyc", requested_by="e2e").first()
            if run is not None and run.status != JobRun.Status.RUNNING:
                break
            assert worker.poll() is None, log.read_text()
            time.sleep(0.2)
        assert run is not None, f"no JobRun within 60 s; worker log:\n{log.read_text()}"
        assert run.status == JobRun.Status.SUCCEEDED, run.error
        assert run.trigger == JobRun.Trigger.TEST
        assert run.counts == {"expired": 1}
        assert Counterparty.objects.get(code="DUE").kyc_status == "expired"
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=15)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait(timeout=5)
        producer.close()
