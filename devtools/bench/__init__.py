"""`make bench`: the figures of quality.md, each a ratio to a baseline measured in the same run.

Importing this package registers every figure group (one module per area); the `bench`
command is what imports it."""

from devtools.bench import accrual, desk, loan_list, revaluation  # noqa: F401  (their groups)
from devtools.bench.registry import BenchGroup, Figure, groups, register_bench

__all__ = ["BenchGroup", "Figure", "groups", "register_bench"]
