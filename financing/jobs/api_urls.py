from rest_framework.routers import DefaultRouter

from financing.jobs.api import JobRunViewSet

router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
router.register("jobs", JobRunViewSet, basename="job")

urlpatterns = router.urls
