"""Prices, haircuts, margin policies, collateral, margin calls, stress tests and concentration
limits over REST (api.md, Prices, collateral and margin): validate, call one service or
selector, serialize."""

from collateral.api._common import (  # noqa: F401
    MAX_PRICES_PER_POST,
    MOVEMENT_REQUEST_KINDS,
)
from collateral.api.calls import (  # noqa: F401
    CallTopUpSerializer,
    EscalateSerializer,
    LiquidateSerializer,
    MarginCallFilter,
    MarginCallSerializer,
    MarginCallViewSet,
    RevaluationRunViewSet,
    RunSerializer,
)
from collateral.api.config import (  # noqa: F401
    HaircutFilter,
    HaircutInSerializer,
    HaircutSerializer,
    HaircutViewSet,
    MarginPolicyViewSet,
    PolicyInSerializer,
    PolicySerializer,
)
from collateral.api.limits import (  # noqa: F401
    LimitFilter,
    LimitInSerializer,
    LimitSerializer,
    LimitViewSet,
    usage_body,
)
from collateral.api.positions import (  # noqa: F401
    LegSerializer,
    LoanCollateralView,
    LoanSubstitutionView,
    LoanValuationView,
    MovementFilter,
    MovementInSerializer,
    MovementSerializer,
    MovementViewSet,
    PooledCollateralView,
    PooledMovementInSerializer,
    PositionFilter,
    PositionSerializer,
    PositionViewSet,
    SubstitutionInSerializer,
    valuation_body,
)
from collateral.api.prices import (  # noqa: F401
    PriceFilter,
    PriceInSerializer,
    PriceSerializer,
    PriceViewSet,
)
from collateral.api.stress import (  # noqa: F401
    ScenarioInSerializer,
    ScenarioSerializer,
    StressRunDetailSerializer,
    StressRunFilter,
    StressRunInSerializer,
    StressRunSerializer,
    StressRunViewSet,
    StressScenarioViewSet,
)
