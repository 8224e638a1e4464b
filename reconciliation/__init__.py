"""Internal records matched to custodian, exchange, bank and counterparty statements; breaks worked to resolution (domain.md: Reconciliation)."""
