"""Every write of the collateral app: prices, haircuts, margin policies, collateral movements.

Margin-call actions live in collateral/margin.py, the whole-book engine in collateral/engine.py."""

from collateral.services._common import (  # noqa: F401
    FUTURE_TOLERANCE,
    MANUAL,
    MAX_PRICE,
    MAX_PRICE_AGE,
    MAX_QUANTITY,
    SOURCE_RE,
)
from collateral.services.config import (  # noqa: F401
    POLICY_FIELDS,
    haircut_set,
    margin_policy_set,
)
from collateral.services.movements import (  # noqa: F401
    collateral_release_apply,
    collateral_release_request,
    collateral_substitute,
    collateral_top_up,
    loan_revalue,
    pool_release_check,
    release_check,
)
from collateral.services.prices import (  # noqa: F401
    PriceInput,
    price_manual_apply,
    price_manual_request,
    price_validate,
    prices_record,
    prices_touch,
    revalue_touched,
)
