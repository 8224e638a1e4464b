"""The embedded PostgreSQL used when DATABASE_URL is not set.

`pgserver` ships real PostgreSQL binaries on PyPI, so `make run` and `make test` work on a
bare machine. Data lives under var/pgdata (git-ignored) and survives restarts. The server is
shared by every process of this checkout: pgserver counts the processes holding it and stops
it when the last one exits, so nothing is left running after `make test`.
"""

from __future__ import annotations

import os
from pathlib import Path

DATABASE_NAME = "financing"


def data_dir(base_dir: Path) -> Path:
    return Path(os.environ.get("PGSERVER_DATA", base_dir / "var" / "pgdata"))


def database_settings(base_dir: Path) -> dict:
    """Start (or join) the embedded server and return a Django DATABASES entry for it."""
    import logging
    import warnings

    # platformdirs warns when XDG_RUNTIME_DIR is unset (root, CI); /tmp is fine here.
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
    import pgserver

    logging.getLogger("pgserver").setLevel(logging.WARNING)
    pgdata = data_dir(base_dir)
    pgdata.mkdir(parents=True, exist_ok=True)
    server = pgserver.get_server(pgdata, cleanup_mode="stop")
    exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE_NAME}';")
    if "(1 row)" not in exists:
        server.psql(f'CREATE DATABASE "{DATABASE_NAME}";')
    info = server.get_postmaster_info()
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": DATABASE_NAME,
        "USER": "postgres",
        "HOST": str(info.socket_dir),
        "PORT": "",
    }


def url(base_dir: Path) -> str:
    """A libpq URL for the embedded database, handed to child processes by `make run`."""
    cfg = database_settings(base_dir)
    return f"postgresql://postgres@/{cfg['NAME']}?host={cfg['HOST']}"
