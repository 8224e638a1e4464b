from rest_framework.routers import DefaultRouter

from financing.audit.api import ActivityViewSet, AuthEventViewSet

router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
router.register("audit/activity", ActivityViewSet, basename="activity")
router.register("audit/auth-events", AuthEventViewSet, basename="auth-event")

urlpatterns = router.urls
