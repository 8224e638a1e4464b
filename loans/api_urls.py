from rest_framework.routers import DefaultRouter

from loans.api import LoanViewSet

router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
router.register("loans", LoanViewSet, basename="loan")

urlpatterns = router.urls
