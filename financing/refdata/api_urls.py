from rest_framework.routers import DefaultRouter

from financing.refdata.api import AssetViewSet, CounterpartyViewSet, DeskViewSet, VenueViewSet

router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
router.register("assets", AssetViewSet, basename="asset")
router.register("venues", VenueViewSet, basename="venue")
router.register("desks", DeskViewSet, basename="desk")
router.register("counterparties", CounterpartyViewSet, basename="counterparty")

urlpatterns = router.urls
