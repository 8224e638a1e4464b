from rest_framework.routers import DefaultRouter

from financing.alerts.api import AlertDeliveryViewSet, AlertViewSet, WebhookEndpointViewSet

router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
# The fixed prefixes first: /api/alerts/deliveries/ is never read as alert "deliveries".
router.register("alerts/deliveries", AlertDeliveryViewSet, basename="alert-delivery")
router.register("alerts/webhooks", WebhookEndpointViewSet, basename="alert-webhook")
router.register("alerts", AlertViewSet, basename="alert")

urlpatterns = router.urls
