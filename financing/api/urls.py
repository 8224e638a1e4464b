from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.routers import DefaultRouter

from financing.api.views import MeView, TokenView
from financing.approvals.api import ApprovalViewSet
from financing.audit.api import ActivityViewSet, AuthEventViewSet
from financing.jobs.api import JobRunViewSet
from financing.refdata.api import AssetViewSet, CounterpartyViewSet, DeskViewSet, VenueViewSet

router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
router.register("assets", AssetViewSet, basename="asset")
router.register("venues", VenueViewSet, basename="venue")
router.register("desks", DeskViewSet, basename="desk")
router.register("counterparties", CounterpartyViewSet, basename="counterparty")
router.register("approvals", ApprovalViewSet, basename="approval")
router.register("audit/activity", ActivityViewSet, basename="activity")
router.register("audit/auth-events", AuthEventViewSet, basename="auth-event")
router.register("jobs", JobRunViewSet, basename="job")

urlpatterns = [
    path("auth/token/", TokenView.as_view(), name="token"),
    path("me/", MeView.as_view(), name="me"),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api:schema"), name="docs"),
    path("", include(router.urls)),
]
