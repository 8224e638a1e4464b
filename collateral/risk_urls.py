"""Stress-test and concentration-limit pages, included under /risk/ in the "collateral"
namespace (collateral/urls.py)."""

from django.urls import path

from collateral import views_risk

urlpatterns = [
    path("stress/", views_risk.StressView.as_view(), name="stress"),
    path("stress/<int:pk>/", views_risk.StressRunView.as_view(), name="stress-run"),
    path("limits/", views_risk.LimitsView.as_view(), name="limits"),
]
