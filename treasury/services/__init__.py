"""Treasury services: every write of accounts, balance snapshots (one, many, or a file) and
buffer levels. Each checks the actor's capability (treasury.manage), validates amounts against
the asset's decimals, and owns its transaction."""

from treasury.services._common import FUTURE_TOLERANCE, MAX_AMOUNT
from treasury.services.accounts import treasury_account_create, treasury_account_update
from treasury.services.balances import BalanceInput, balance_record, balances_record
from treasury.services.buffers import buffer_level_set
from treasury.services.imports import IMPORT_COLUMNS, balances_import

__all__ = [
    "FUTURE_TOLERANCE",
    "IMPORT_COLUMNS",
    "MAX_AMOUNT",
    "BalanceInput",
    "balance_record",
    "balances_import",
    "balances_record",
    "buffer_level_set",
    "treasury_account_create",
    "treasury_account_update",
]
