"""manage.py bench [--loans N] [--only GROUP]: the figures of quality.md, in a separate database.
Each figure is a ratio to a baseline measured in the same run, printed with the absolute
figures beside it and its verdict against the target."""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from devtools import bench
from financing import clock


class Command(BaseCommand):
    help = "Seed a synthetic book in a separate database and measure the benchmark figures."

    def add_arguments(self, parser):
        parser.add_argument(
            "--loans", type=int, default=int(os.environ.get("BENCH_LOANS", "100000"))
        )
        parser.add_argument("--only", action="append", default=[], help="run only these groups")
        parser.add_argument("--keepdb", action="store_true", help="keep the bench database")
        parser.add_argument("--out", default=str(Path(settings.BASE_DIR) / "var" / "bench"))

    def handle(self, *args, loans, only, keepdb, out, **options):
        if not 1000 <= loans <= 2_000_000:
            raise CommandError("--loans must be between 1,000 and 2,000,000.")
        chosen = [g for g in bench.groups() if not only or g.name in only]
        if not chosen:
            raise CommandError(
                f"no bench group named {only}; have {[g.name for g in bench.groups()]}"
            )
        connection.settings_dict["TEST"]["NAME"] = "financing_bench"
        self.stdout.write("creating the bench database financing_bench (migrate)...")
        old_name = connection.creation.create_test_db(
            verbosity=0, autoclobber=True, serialize=False, keepdb=False
        )
        started = time.perf_counter()
        figures: list[bench.Figure] = []
        try:
            for group in chosen:
                self.stdout.write(f"== {group.name}")
                figures += group.run(scale=loans, out=lambda line: self.stdout.write("   " + line))
        finally:
            if not keepdb:
                connection.creation.destroy_test_db(old_name, verbosity=0)
        self._print(figures)
        report = {
            "at": clock.now().isoformat(),
            "loans": loans,
            "seconds": round(time.perf_counter() - started, 1),
            "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
            "database": connection.settings_dict.get("HOST") or "embedded",
            "figures": [f.as_dict() for f in figures],
        }
        outdir = Path(out)
        outdir.mkdir(parents=True, exist_ok=True)
        stamp = clock.now().strftime("%Y%m%dT%H%M%SZ")
        for name in (f"bench-{stamp}.json", "latest.json"):
            (outdir / name).write_text(json.dumps(report, indent=2, default=str))
        self.stdout.write(f"written to {outdir / ('bench-' + stamp + '.json')}")
        if any(f.ok is False for f in figures):
            raise CommandError("some figures miss their targets")

    def _print(self, figures):
        width = max([len(f.name) for f in figures] + [6])
        self.stdout.write("")
        self.stdout.write(
            f"{'figure':<{width}} {'measured':>14}  {'absolute (same run)':<30} "
            f"{'target':<18} result"
        )
        self.stdout.write("-" * (width + 72))
        for f in figures:
            verdict = {True: "ok", False: "MISSED", None: "-"}[f.ok]
            value = f"{f.value:,.2f} {f.unit}"
            self.stdout.write(
                f"{f.name:<{width}} {value:>14}  {f.beside:<30} {f.target:<18} {verdict}"
            )
