from django.urls import path

from financing.jobs import views

app_name = "jobs"
urlpatterns = [
    path("", views.JobsView.as_view(), name="list"),
    path("runs/", views.RunsView.as_view(), name="runs"),
    path("<slug:name>/run/", views.RunNowView.as_view(), name="run"),
]
