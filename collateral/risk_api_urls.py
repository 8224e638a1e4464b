"""API routes of stress tests, stress scenarios and concentration limits (under /api/)."""

from rest_framework.routers import DefaultRouter

from collateral import api_risk

router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
router.register("stress-tests", api_risk.StressRunViewSet, basename="stress-test")
router.register("stress-scenarios", api_risk.StressScenarioViewSet, basename="stress-scenario")
router.register("limits", api_risk.LimitViewSet, basename="limit")

urlpatterns = [*router.urls]
