from django.urls import path
from rest_framework.routers import DefaultRouter

from loans.desk.api import BorrowRequestViewSet, ForecastView, InventoryView

router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
router.register("borrow-requests", BorrowRequestViewSet, basename="borrow-request")

urlpatterns = [
    path("inventory/", InventoryView.as_view(), name="inventory"),
    path("inventory/forecast/", ForecastView.as_view(), name="inventory-forecast"),
    *router.urls,
]
