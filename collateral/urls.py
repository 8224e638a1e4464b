from django.urls import path

from collateral import views

app_name = "collateral"
urlpatterns = [
    path("", views.RiskDashboardView.as_view(), name="dashboard"),
    path("revalue/", views.RevalueNowView.as_view(), name="revalue"),
    path("margin-calls/", views.MarginCallListView.as_view(), name="calls"),
    path("margin-calls/<int:pk>/", views.MarginCallDetailView.as_view(), name="call"),
    path(
        "margin-calls/<int:pk>/<slug:action>/",
        views.MarginCallActionView.as_view(),
        name="call-action",
    ),
    path("loans/<int:pk>/", views.LoanCollateralView.as_view(), name="loan"),
    path(
        "loans/<int:pk>/<slug:action>/",
        views.LoanCollateralActionView.as_view(),
        name="loan-action",
    ),
    path(
        "counterparties/<slug:code>/",
        views.CounterpartyCollateralView.as_view(),
        name="counterparty",
    ),
    path(
        "counterparties/<slug:code>/<slug:action>/",
        views.CounterpartyCollateralActionView.as_view(),
        name="counterparty-action",
    ),
    path("collateral/", views.PositionListView.as_view(), name="positions"),
    path("prices/", views.PricesView.as_view(), name="prices"),
    path("prices/manual/", views.ManualPriceView.as_view(), name="price-manual"),
    path("haircuts/", views.HaircutListView.as_view(), name="haircuts"),
    path("haircuts/set/", views.HaircutSetView.as_view(), name="haircut-set"),
    path("policies/", views.PolicyListView.as_view(), name="policies"),
    path("policies/set/", views.PolicySetView.as_view(), name="policy-set"),
    path("stress/", views.StressView.as_view(), name="stress"),
    path("stress/<int:pk>/", views.StressRunView.as_view(), name="stress-run"),
    path("limits/", views.LimitsView.as_view(), name="limits"),
]
