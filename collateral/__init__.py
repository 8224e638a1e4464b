"""Collateral positions, haircuts, prices, revaluation, LTV, margin calls, stress tests and limits (domain.md: Collateral and margin; issue 4)."""
