from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection
from django.utils import timezone

from financing.jobs import registry
from financing.jobs.models import JobRun
from financing.jobs.selectors import jobs_overview
from financing.jobs.services import advisory_lock, job_run
from financing.refdata.models import Counterparty
from tests.factories import CounterpartyFactory

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def failing_job():
    def boom(*, now):
        raise RuntimeError("feed unreachable")

    job = registry.register(registry.Job(name="test_boom", description="fails", run=boom))
    yield job
    registry.unregister(job.name)


@pytest.mark.django_db(transaction=True)
def test_expire_kyc_expires_only_approved_past_expiry_and_records_the_run():
    today = timezone.now().date()
    CounterpartyFactory(code="OLD", kyc_expires_on=today - timedelta(days=1))
    CounterpartyFactory(code="TODAY", kyc_expires_on=today)
    CounterpartyFactory(code="REJ", kyc_status="rejected", kyc_expires_on=None)
    run = job_run("expire_kyc", trigger="test")
    assert run.status == "succeeded" and run.counts == {"expired": 1}
    assert run.finished_at is not None
    statuses = dict(Counterparty.objects.values_list("code", "kyc_status"))
    assert statuses == {"OLD": "expired", "TODAY": "approved", "REJ": "rejected"}
    old = Counterparty.objects.get(code="OLD")
    assert old.history.first().history_change_reason.startswith("KYC expired")
    assert job_run("expire_kyc", trigger="test").counts == {"expired": 0}


@pytest.mark.django_db(transaction=True)
def test_a_failing_job_records_its_error_and_raises(failing_job):
    with pytest.raises(RuntimeError):
        job_run("test_boom", trigger="test")
    run = JobRun.objects.get(job="test_boom")
    assert run.status == "failed" and "feed unreachable" in run.error


@pytest.mark.django_db(transaction=True)
def test_a_run_that_finds_the_lock_taken_is_recorded_as_skipped():
    import threading

    held, release = threading.Event(), threading.Event()

    def hold():
        with advisory_lock("job:expire_kyc"):
            held.set()
            release.wait(10)
        connection.close()

    t = threading.Thread(target=hold)
    t.start()
    held.wait(10)
    try:
        run = job_run("expire_kyc", trigger="test")
    finally:
        release.set()
        t.join()
    assert run.status == "skipped"


@pytest.mark.django_db
def test_overview_flags_never_run_jobs_overdue_and_beat_runs_every_scheduled_job():
    rows = {r["job"].name: r for r in jobs_overview(now=timezone.now())}
    assert rows["expire_kyc"]["overdue"] is True
    schedule = registry.beat_schedule()
    scheduled = {j.name for j in registry.all_jobs() if j.schedule is not None}
    assert set(schedule) == scheduled and scheduled
    assert all(e["task"] == "jobs.run" for e in schedule.values())


def _db_url() -> str:
    s = connection.settings_dict
    host = s.get("HOST") or s.get("OPTIONS", {}).get("host", "")
    if host.startswith("/"):
        return f"postgresql://{s['USER']}@/{s['NAME']}?host={host}"
    pw = f":{s['PASSWORD']}" if s.get("PASSWORD") else ""
    return f"postgres://{s['USER']}{pw}@{host}:{s.get('PORT') or 5432}/{s['NAME']}"


@pytest.mark.django_db(transaction=True)
def test_a_real_worker_consumes_a_queued_job_and_records_it(tmp_path):
    """The Celery path end to end: a worker process takes jobs.run from the broker."""
    from kombu import Connection

    from financing.jobs.tasks import run_job_task

    broker = os.environ.get("CELERY_BROKER_URL", "")
    env = {
        **os.environ,
        "DEBUG": "true",
        "DATABASE_URL": _db_url(),
        "CELERY_FILESYSTEM_DIR": str(tmp_path),
    }
    if not broker.startswith("redis"):
        broker = "filesystem://"
        folders = {
            k: str(tmp_path / v)
            for k, v in (
                ("data_folder_in", "queue"),
                ("data_folder_out", "queue"),
                ("processed_folder", "processed"),
                ("control_folder", "control"),
            )
        }
        for f in folders.values():
            Path(f).mkdir(parents=True, exist_ok=True)
    env["CELERY_BROKER_URL"] = broker
    queue = f"test-{os.getpid()}-{time.monotonic_ns()}"
    worker = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "celery"),
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
            "WARNING",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        options = folders if broker == "filesystem://" else {}
        with Connection(broker, transport_options=options) as conn:
            run_job_task.apply_async(
                args=("expire_kyc", "test", "e2e"), queue=queue, connection=conn
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if JobRun.objects.filter(job="expire_kyc", requested_by="e2e").exists():
                break
            assert worker.poll() is None, worker.stdout.read().decode()[-3000:]
            time.sleep(0.3)
        run = JobRun.objects.get(job="expire_kyc", requested_by="e2e")
        assert run.status in ("running", "succeeded")
    finally:
        worker.terminate()
        try:
            worker.wait(15)
        except subprocess.TimeoutExpired:
            worker.kill()
