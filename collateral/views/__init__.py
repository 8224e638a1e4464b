"""Risk pages: the risk dashboard, margin calls and their actions, collateral by loan and by
counterparty, prices with their age, haircuts and margin policies, stress tests and
concentration limits. Every action posts to a
view that calls the same service as the API."""

from collateral.views._common import (  # noqa: F401
    BAND_TONE,
    CALL_TONE,
    EVENT_LABELS,
    EscalateForm,
    HaircutForm,
    LiquidateForm,
    ManualPriceForm,
    MovementForm,
    PolicyForm,
    PooledMovementForm,
    SubstitutionForm,
)
from collateral.views.calls import (  # noqa: F401
    CALL_ACTIONS,
    CallFilter,
    MarginCallActionView,
    MarginCallDetailView,
    MarginCallListView,
)
from collateral.views.config import (  # noqa: F401
    HaircutListView,
    HaircutSetView,
    ManualPriceView,
    PolicyListView,
    PolicySetView,
    PriceFilter,
    PricesView,
)
from collateral.views.dashboard import (  # noqa: F401
    RevalueNowView,
    RiskDashboardView,
)
from collateral.views.limits import (  # noqa: F401
    STATUS_LABEL,
    STATUS_TONE,
    LimitFilterForm,
    LimitForm,
    LimitsView,
)
from collateral.views.positions import (  # noqa: F401
    LOAN_ACTIONS,
    CounterpartyCollateralActionView,
    CounterpartyCollateralView,
    LoanCollateralActionView,
    LoanCollateralView,
    PositionFilter,
    PositionListView,
)
from collateral.views.stress import (  # noqa: F401
    ShockForm,
    StressResultFilterForm,
    StressRunFilter,
    StressRunView,
    StressView,
    shock_text,
    shocks_text,
)
