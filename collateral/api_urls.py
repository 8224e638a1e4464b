from django.urls import path
from rest_framework.routers import DefaultRouter

from collateral import api

router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
router.register("prices", api.PriceViewSet, basename="price")
router.register("haircuts", api.HaircutViewSet, basename="haircut")
router.register("margin-policies", api.MarginPolicyViewSet, basename="margin-policy")
router.register("collateral/positions", api.PositionViewSet, basename="position")
router.register("collateral/movements", api.MovementViewSet, basename="movement")
router.register("margin-calls", api.MarginCallViewSet, basename="margin-call")
router.register("revaluation-runs", api.RevaluationRunViewSet, basename="revaluation-run")
router.register("stress-tests", api.StressRunViewSet, basename="stress-test")
router.register("stress-scenarios", api.StressScenarioViewSet, basename="stress-scenario")
router.register("limits", api.LimitViewSet, basename="limit")

urlpatterns = [
    path(
        "loans/<int:loan_id>/collateral/", api.LoanCollateralView.as_view(), name="loan-collateral"
    ),
    path(
        "loans/<int:loan_id>/collateral/substitute/",
        api.LoanSubstitutionView.as_view(),
        name="loan-substitution",
    ),
    path("loans/<int:loan_id>/valuation/", api.LoanValuationView.as_view(), name="loan-valuation"),
    path(
        "counterparties/<slug:code>/collateral/",
        api.PooledCollateralView.as_view(),
        name="pooled-collateral",
    ),
    *router.urls,
]
