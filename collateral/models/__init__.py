"""Collateral and margin: prices, haircuts, margin policies, positions and their movements,
valuations, margin calls and their notices, stress scenarios and concentration limits.

Models hold data and invariants (constraints); every workflow lives in collateral/services/
(and margin.py, stress.py, limits.py) and the whole-book engine in collateral/engine.py. Ledger
rows (price snapshots, movements, valuations, margin-call events and notices) are append-only.
One module per concern, every name re-exported here: import models from `collateral.models`.
"""

from collateral.models.calls import (  # noqa: F401
    CALL_TRANSITIONS,
    Liquidation,
    MarginCall,
    MarginCallEvent,
    MarginCallNotice,
    MarginCallSide,
    MarginCallStatus,
)
from collateral.models.positions import (  # noqa: F401
    CollateralMovement,
    CollateralPosition,
    PositionDirection,
)
from collateral.models.prices import PriceSnapshot, PriceTouch  # noqa: F401
from collateral.models.risk import (  # noqa: F401
    TENOR_BUCKETS,
    ConcentrationLimit,
    LimitKind,
    StressRun,
    StressScenario,
)
from collateral.models.terms import Haircut, MarginPolicy  # noqa: F401
from collateral.models.valuations import (  # noqa: F401
    Band,
    LoanMarginState,
    LoanValuation,
    RevaluationRun,
)
