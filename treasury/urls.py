from django.urls import path

from treasury import views

app_name = "treasury"
urlpatterns = [
    path("", views.AccountListView.as_view(), name="accounts"),
    path("accounts/add/", views.AccountAddView.as_view(), name="account-add"),
    path("balances/", views.BalanceListView.as_view(), name="balances"),
    path("balances/record/", views.BalanceRecordView.as_view(), name="balance-record"),
    path("balances/import/", views.BalanceImportView.as_view(), name="balance-import"),
    path("buffers/", views.BufferListView.as_view(), name="buffers"),
    path("buffers/set/", views.BufferSetView.as_view(), name="buffer-set"),
]
