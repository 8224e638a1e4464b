from django.urls import path

from financing.refdata import views

app_name = "refdata"

#: kind -> URL prefix; each kind has <kind>-list, -create, -detail and -edit.
PREFIXES = {
    "asset": "assets",
    "venue": "venues",
    "desk": "desks",
    "counterparty": "counterparties",
}

urlpatterns = [
    path(
        "counterparties/<str:key>/kyc/",
        views.CounterpartyKycView.as_view(),
        name="counterparty-kyc",
    ),
]
for kind, prefix in PREFIXES.items():
    urlpatterns += [
        path(f"{prefix}/", views.RefListView.as_view(kind_name=kind), name=f"{kind}-list"),
        path(
            f"{prefix}/new/",
            views.RefFormView.as_view(kind_name=kind),
            name=f"{kind}-create",
        ),
        path(
            f"{prefix}/<str:key>/edit/",
            views.RefFormView.as_view(kind_name=kind, editing=True),
            name=f"{kind}-edit",
        ),
        path(
            f"{prefix}/<str:key>/",
            views.RefDetailView.as_view(kind_name=kind),
            name=f"{kind}-detail",
        ),
    ]
