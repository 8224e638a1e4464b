from django.urls import path

from financing.audit import views

app_name = "audit"
urlpatterns = [
    path("", views.ActivityView.as_view(), name="activity"),
    path("auth-events/", views.AuthEventsView.as_view(), name="auth-events"),
    path("<str:app_label>/<str:model_name>/<str:pk>/", views.RecordView.as_view(), name="record"),
]
