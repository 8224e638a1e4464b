from django.urls import path

from loans import desk_views

# Included from loans/urls.py at /loans/desk/ inside the "loans" namespace.
urlpatterns = [
    path("portal/", desk_views.PortalView.as_view(), name="desk-portal"),
    path("queue/", desk_views.QueueView.as_view(), name="desk-queue"),
    path("requests/", desk_views.RequestListView.as_view(), name="desk-requests"),
    path("requests/<int:pk>/", desk_views.RequestDetailView.as_view(), name="desk-request"),
    path(
        "requests/<int:pk>/<slug:action>/",
        desk_views.RequestActionView.as_view(),
        name="desk-request-action",
    ),
    path("inventory/", desk_views.InventoryView.as_view(), name="desk-inventory"),
]
