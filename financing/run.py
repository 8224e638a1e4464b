"""`make run`: one foreground command for the whole product on a developer's machine.

Starts the embedded PostgreSQL (unless DATABASE_URL is set), migrates, loads the demo book,
then serves web (gunicorn) + one Celery worker + one beat, prints the URL and the demo logins,
and on Ctrl-C stops the three children and then the database cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
VAR = BASE_DIR / "var"
BIN = Path(sys.executable).parent

DEMO_LOGINS = [
    ("ops", "ops"),
    ("ops2", "ops"),
    ("risk", "risk"),
    ("treasury", "treasury"),
    ("compliance", "compliance"),
    ("compliance2", "compliance"),
    ("trader", "trading, desk DELTA1"),
    ("auditor", "auditor"),
    ("admin", "admin"),
]


def main() -> int:
    env = os.environ.copy()
    env.setdefault("DEBUG", "true")
    env.setdefault("PYTHONUNBUFFERED", "1")
    host = env.get("HOST", "127.0.0.1")
    port = env.get("PORT", "8000")
    env.setdefault("ALLOWED_HOSTS", f"{host},localhost,127.0.0.1")
    VAR.mkdir(exist_ok=True)
    (BASE_DIR / "staticfiles").mkdir(exist_ok=True)
    server = None
    if not env.get("DATABASE_URL"):
        from financing import embedded_pg

        print("Starting the embedded PostgreSQL (data under var/pgdata)...", flush=True)
        env["DATABASE_URL"] = embedded_pg.url(BASE_DIR)
        server = True  # pgserver stops it when this process exits
    manage = [sys.executable, str(BASE_DIR / "manage.py")]
    subprocess.run([*manage, "migrate", "--noinput"], env=env, check=True)
    subprocess.run([*manage, "seed_demo"], env=env, check=True)

    broker = env.get("CELERY_BROKER_URL", "filesystem://")
    celery = [str(BIN / "celery"), "-A", "financing"]
    worker_flags = (
        ["--without-mingle", "--without-gossip"] if broker.startswith("filesystem") else []
    )
    commands = {
        "web": [
            str(BIN / "gunicorn"),
            "financing.wsgi",
            "-c",
            str(BASE_DIR / "gunicorn.conf.py"),
            "--bind",
            f"{host}:{port}",
            "--workers",
            env.get("WEB_CONCURRENCY", "2"),
            "--access-logfile",
            "-",
            "--graceful-timeout",
            "5",
        ],
        "worker": [*celery, "worker", "--loglevel", "INFO", "--concurrency", "2", *worker_flags],
        "beat": [
            *celery,
            "beat",
            "--loglevel",
            "INFO",
            "--scheduler",
            "django_celery_beat.schedulers:DatabaseScheduler",
            "--pidfile",
            str(VAR / "celerybeat.pid"),
        ],
    }
    (VAR / "celerybeat.pid").unlink(missing_ok=True)
    # Own sessions: Ctrl-C reaches only this supervisor, which stops each child exactly once.
    children = {
        name: subprocess.Popen(cmd, env=env, cwd=BASE_DIR, start_new_session=True)
        for name, cmd in commands.items()
    }

    stopping = False

    def stop(signum=None, frame=None):
        nonlocal stopping
        if stopping:
            return
        stopping = True
        print("\nStopping web, worker and beat...", flush=True)
        for proc in children.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 15
        for proc in children.values():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
        if server:
            print("Stopping the embedded PostgreSQL...", flush=True)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)

    time.sleep(2)
    url = f"http://{'localhost' if host in ('127.0.0.1', '0.0.0.0') else host}:{port}/"  # noqa: S104
    print("\n" + "=" * 72)
    print(f"  Financing Desk is running at {url}")
    print(f"  API docs: {url}api/docs/   health: {url}healthz")
    print("  Demo logins (password for all: demo-pass-2026):")
    for user, role in DEMO_LOGINS:
        print(f"    {user:<12} {role}")
    print("  Ctrl-C stops everything.")
    print("=" * 72 + "\n", flush=True)

    exit_code = 0
    while not stopping:
        for name, proc in children.items():
            if proc.poll() is not None:
                print(f"{name} exited with code {proc.returncode}; stopping.", flush=True)
                exit_code = proc.returncode or 1
                stop()
                break
        time.sleep(0.5)
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
