from django.urls import path

from financing.alerts import views

app_name = "alerts"
urlpatterns = [
    path("", views.AlertListView.as_view(), name="list"),
    path("deliveries/", views.DeliveryLogView.as_view(), name="deliveries"),
    path("webhooks/", views.WebhookListView.as_view(), name="webhooks"),
    path("webhooks/<int:pk>/toggle/", views.WebhookToggleView.as_view(), name="webhook-toggle"),
    path("<int:pk>/", views.AlertDetailView.as_view(), name="detail"),
    path("<int:pk>/<slug:action>/", views.AlertActionView.as_view(), name="action"),
]
