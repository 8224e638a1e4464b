"""Jobs pages: who sees them and who may run a job, each job's health, every run with filters
and exports of exactly the filtered rows, "Run now" queueing the Celery task, bounded queries."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from unittest import mock

import pytest
from django.contrib.messages import get_messages
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from django.utils.timesince import timesince

from financing.jobs.models import JobRun
from financing.jobs.views import format_duration

pytestmark = pytest.mark.django_db

JOBS = reverse("jobs:list")
RUNS = reverse("jobs:runs")


def run_url(name: str) -> str:
    return reverse("jobs:run", args=[name])


def csv_rows(resp) -> list[list[str]]:
    body = b"".join(resp.streaming_content) if resp.streaming else resp.content
    return list(csv.reader(io.StringIO(body.decode("utf-8"))))


def make_run(job="expire_kyc", status="succeeded", trigger="beat", ago=timedelta(hours=1), **kw):
    started = timezone.now() - ago
    finished = None if status == "running" else started + timedelta(seconds=2)
    return JobRun.objects.create(
        job=job, status=status, trigger=trigger, started_at=started, finished_at=finished, **kw
    )


def runs_on_page(resp) -> list[JobRun]:
    return [row["obj"] for row in resp.context["table_rows"]]


# --- access -----------------------------------------------------------------------------------


def test_anonymous_users_are_sent_to_the_login_page(client):
    for resp in (client.get(JOBS), client.get(RUNS), client.post(run_url("expire_kyc"))):
        assert resp.status_code == 302
        assert resp["Location"].startswith(reverse("accounts:login"))


def test_trading_desk_users_may_not_see_jobs(page, make_user):
    client = page(make_user("trading"))
    assert client.get(JOBS).status_code == 403
    assert client.get(RUNS).status_code == 403
    assert client.post(run_url("expire_kyc")).status_code == 403


def test_risk_sees_jobs_without_run_now_and_may_not_run_one(page, make_user):
    client = page(make_user("risk"))
    resp = client.get(JOBS)
    assert resp.status_code == 200
    assert 'data-testid="run-now"' not in resp.content.decode()
    with mock.patch("financing.jobs.tasks.run_job_task.delay") as delay:
        assert client.post(run_url("expire_kyc")).status_code == 403
    delay.assert_not_called()


# --- the jobs page ---------------------------------------------------------------------------


def test_jobs_page_shows_each_jobs_health(page, make_user):
    make_run(status="failed", ago=timedelta(hours=3), error="RuntimeError: feed down")
    make_run(status="succeeded", ago=timedelta(hours=2), counts={"expired": 4})
    resp = page(make_user("ops")).get(JOBS)
    html = resp.content.decode()
    assert resp.status_code == 200
    rows = {r["job"].name: r for r in resp.context["overview"]}
    assert {"expire_kyc", "purge_idempotency_keys"} <= set(rows)
    kyc = rows["expire_kyc"]
    assert kyc["last_run"].status == "succeeded" and kyc["tone"] == "ok"
    assert kyc["failures_24h"] == 1 and kyc["overdue"] is False
    assert kyc["success_text"] == kyc["last_success"].strftime("%Y-%m-%d %H:%M:%S")
    assert rows["purge_idempotency_keys"]["last_run"] is None
    assert rows["purge_idempotency_keys"]["overdue"] is True  # never succeeded
    assert "Mark approved counterparty KYC" in html
    assert "daily 00:05 UTC" in html
    assert kyc["success_ago"] == f"{timesince(kyc['last_success'], resp.context['now'])} ago"
    assert kyc["success_ago"] in html
    assert 'data-testid="overdue"' in html and "never run" in html
    assert html.count('data-testid="run-now"') == len(rows)
    assert f'action="{run_url("expire_kyc")}"' in html
    # the recent runs below, newest first, with their counts
    assert [r.status for r in runs_on_page(resp)] == ["succeeded", "failed"]
    assert "expired: 4" in html


@pytest.mark.parametrize(
    ("status", "tone"),
    [("succeeded", "ok"), ("failed", "bad"), ("running", "neutral"), ("skipped", "neutral")],
)
def test_last_run_status_badge_tone(page, make_user, status, tone):
    make_run(status=status)
    resp = page(make_user("ops")).get(JOBS)
    row = next(r for r in resp.context["overview"] if r["job"].name == "expire_kyc")
    assert row["tone"] == tone
    assert f'<span class="badge badge-{tone}" data-testid="last-status">{status}</span>' in (
        resp.content.decode()
    )


def test_a_success_under_a_minute_ago_reads_just_now(page, make_user):
    make_run(status="succeeded", ago=timedelta(seconds=10))
    resp = page(make_user("ops")).get(JOBS)
    row = next(r for r in resp.context["overview"] if r["job"].name == "expire_kyc")
    assert row["success_ago"] == "just now"


def test_a_job_whose_last_success_is_too_old_is_overdue(page, make_user):
    make_run(status="succeeded", ago=timedelta(hours=30))
    resp = page(make_user("ops")).get(JOBS)
    row = next(r for r in resp.context["overview"] if r["job"].name == "expire_kyc")
    assert row["overdue"] is True


# --- run now ---------------------------------------------------------------------------------


def test_run_now_by_ops_queues_the_job_after_commit(
    page, make_user, django_capture_on_commit_callbacks
):
    ops = make_user("ops", username="olga")
    client = page(ops)
    with (
        mock.patch("financing.jobs.tasks.run_job_task.delay") as delay,
        django_capture_on_commit_callbacks(execute=True) as callbacks,
    ):
        resp = client.post(run_url("expire_kyc"))
    assert resp.status_code == 302 and resp["Location"] == JOBS
    assert len(callbacks) == 1
    delay.assert_called_once_with("expire_kyc", "dashboard", "olga")
    assert [str(m) for m in get_messages(resp.wsgi_request)] == [
        "Queued expire_kyc. Its run shows below once the worker starts it."
    ]
    followed = client.get(JOBS)
    assert "Queued expire_kyc" in followed.content.decode()


def test_run_now_for_an_unknown_job_is_404_and_a_get_is_refused(page, make_user):
    client = page(make_user("ops"))
    with mock.patch("financing.jobs.tasks.run_job_task.delay") as delay:
        assert client.post(run_url("no_such_job")).status_code == 404
        assert client.get(run_url("expire_kyc")).status_code == 405
    delay.assert_not_called()


# --- all runs ----------------------------------------------------------------------------------


@pytest.fixture
def runs():
    return {
        "ok": make_run(trigger="beat", counts={"expired": 2}, ago=timedelta(hours=5)),
        "failed": make_run(
            status="failed",
            trigger="dashboard",
            requested_by="olga",
            ago=timedelta(hours=4),
            error="RuntimeError: " + "feed unreachable; " * 40,
        ),
        "purge": make_run(job="purge_idempotency_keys", trigger="manual", ago=timedelta(hours=3)),
        "running": make_run(status="running", trigger="dashboard", ago=timedelta(minutes=1)),
    }


def test_runs_page_lists_every_run_with_its_details(page, make_user, runs):
    resp = page(make_user("risk")).get(RUNS)
    assert resp.status_code == 200
    assert [r.pk for r in runs_on_page(resp)] == [
        runs["running"].pk,
        runs["purge"].pk,
        runs["failed"].pk,
        runs["ok"].pk,
    ]
    cells = {r["obj"].pk: [c["text"] for c in r["cells"]] for r in resp.context["table_rows"]}
    ok = cells[runs["ok"].pk]
    assert ok[:3] == ["expire_kyc", "Schedule", "succeeded"]
    assert ok[5] == "2.00 s" and ok[6] == "expired: 2"
    failed = cells[runs["failed"].pk]
    assert failed[1] == "Dashboard" and failed[8] == "olga"
    assert failed[7].startswith("RuntimeError: feed unreachable") and len(failed[7]) <= 140
    assert cells[runs["running"].pk][4] == "" and cells[runs["running"].pk][5] == ""


def test_runs_filter_by_job_status_and_trigger(page, make_user, runs):
    client = page(make_user("ops"))

    def pks(**params):
        return {r.pk for r in runs_on_page(client.get(RUNS, params))}

    assert pks(job="purge_idempotency_keys") == {runs["purge"].pk}
    assert pks(status="failed") == {runs["failed"].pk}
    assert pks(trigger="dashboard") == {runs["failed"].pk, runs["running"].pk}
    assert pks(job="expire_kyc", trigger="dashboard", status="running") == {runs["running"].pk}
    assert pks(job="not_a_job") == set()  # an invalid choice shows nothing, not everything


def test_runs_export_is_exactly_the_filtered_rows_with_errors_in_full(page, make_user, runs):
    client = page(make_user("ops"))
    resp = client.get(RUNS, {"trigger": "dashboard", "export": "csv"})
    assert resp.status_code == 200 and resp["Content-Type"].startswith("text/csv")
    header, *rows = csv_rows(resp)
    assert header == [
        "Job",
        "Trigger",
        "Status",
        "Started (UTC)",
        "Finished (UTC)",
        "Duration",
        "Counts",
        "Error",
        "Requested by",
    ]
    assert sorted(r[2] for r in rows) == ["failed", "running"]
    failed = next(r for r in rows if r[2] == "failed")
    assert failed[7] == runs["failed"].error


def test_jobs_page_exports_point_at_the_runs_export(page, make_user, runs):
    html = page(make_user("ops")).get(JOBS).content.decode()
    assert f'href="{RUNS}?export=csv"' in html


def test_jobs_pages_run_a_bounded_number_of_queries(page, make_user, django_assert_max_num_queries):
    client = page(make_user("ops"))

    def count(url):
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(url).status_code == 200
        return len(ctx.captured_queries)

    make_run()
    few = {url: count(url) for url in (JOBS, RUNS)}
    for i in range(60):
        make_run(job=("expire_kyc", "purge_idempotency_keys")[i % 2], ago=timedelta(minutes=i))
    assert {url: count(url) for url in (JOBS, RUNS)} == few
    with django_assert_max_num_queries(10):
        client.get(JOBS)
    with django_assert_max_num_queries(10):
        client.get(RUNS)


@pytest.mark.parametrize(
    ("delta", "text"),
    [
        (timedelta(milliseconds=420), "0.42 s"),
        (timedelta(seconds=2), "2.00 s"),
        (timedelta(seconds=59, milliseconds=999), "59.99 s"),
        (timedelta(minutes=3, seconds=7), "3 min 07 s"),
        (timedelta(hours=1, minutes=2, seconds=30), "1 h 02 min"),
        (None, ""),
    ],
)
def test_durations_read_naturally(delta, text):
    assert format_duration(delta) == text
