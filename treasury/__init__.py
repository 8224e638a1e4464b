"""Accounts and balances at venues, transfers, buffers and lendable inventory (domain.md: Treasury; issue 5 builds accounts, balances and inventory)."""
