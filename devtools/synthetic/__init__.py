"""Synthetic books at scale for the bench and load tests: set-based INSERT ... SELECT over
generate_series, so 100k loans take seconds."""

from devtools.synthetic.collateral import seed_collateral
from devtools.synthetic.loans import seed_synthetic

__all__ = ["seed_collateral", "seed_synthetic"]
