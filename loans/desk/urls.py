from django.urls import path

from loans.desk import views

app_name = "desk"
urlpatterns = [
    path("portal/", views.PortalView.as_view(), name="portal"),
    path("queue/", views.QueueView.as_view(), name="queue"),
    path("requests/", views.RequestListView.as_view(), name="requests"),
    path("requests/<int:pk>/", views.RequestDetailView.as_view(), name="request"),
    path(
        "requests/<int:pk>/<slug:action>/",
        views.RequestActionView.as_view(),
        name="request-action",
    ),
    path("inventory/", views.InventoryView.as_view(), name="inventory"),
]
