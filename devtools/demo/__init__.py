"""The demo book: one seeder per area, run in order by `manage.py seed_demo`.

Importing this package registers every seeder; the `seed_demo` command is what imports it."""

from devtools.demo import collateral, desk, loans, refdata, treasury  # noqa: F401  (seeders)
from devtools.demo.registry import DEMO_PASSWORD, Seeder, register_seeder, seeders

__all__ = ["DEMO_PASSWORD", "Seeder", "register_seeder", "seeders"]
