from django.urls import path

from loans import views

app_name = "loans"
urlpatterns = [
    path("", views.LoanBookView.as_view(), name="book"),
    path("new/", views.LoanBookFormView.as_view(), name="new"),
    path("accrual-runs/", views.AccrualRunsView.as_view(), name="accrual-runs"),
    path("<int:pk>/", views.LoanDetailView.as_view(), name="detail"),
    path("<int:pk>/<slug:action>/", views.LoanActionView.as_view(), name="action"),
]
