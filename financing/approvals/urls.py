from django.urls import path

from financing.approvals import views

app_name = "approvals"
urlpatterns = [
    path("", views.InboxView.as_view(), name="inbox"),
    path("policies/", views.PoliciesView.as_view(), name="policies"),
    path("<int:pk>/", views.DetailView.as_view(), name="detail"),
    path("<int:pk>/decide/", views.DecideView.as_view(), name="decide"),
]
