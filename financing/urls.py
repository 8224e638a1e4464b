from django.contrib import admin
from django.urls import include, path

from financing.api.views import healthz

admin.site.site_header = "Financing Desk administration"

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    # Each domain app brings its own API routes under /api/ (the project lists its apps here
    # as settings lists them in INSTALLED_APPS).
    path("api/", include(("treasury.api_urls", "treasury_api"))),
    path("api/", include(("loans.api_urls", "loans_api"))),
    path("api/", include(("loans.desk.api_urls", "desk_api"))),
    path("api/", include(("collateral.api_urls", "collateral_api"))),
    path("api/", include(("financing.alerts.api_urls", "alerts_api"))),
    path("api/", include(("financing.refdata.api_urls", "refdata_api"))),
    path("api/", include(("financing.approvals.api_urls", "approvals_api"))),
    path("api/", include(("financing.audit.api_urls", "audit_api"))),
    path("api/", include(("financing.jobs.api_urls", "jobs_api"))),
    path("api/", include(("financing.api.urls", "api"))),
    path("accounts/", include("financing.accounts.urls")),
    path("approvals/", include("financing.approvals.urls")),
    path("refdata/", include("financing.refdata.urls")),
    path("audit/", include("financing.audit.urls")),
    path("jobs/", include("financing.jobs.urls")),
    path("treasury/", include("treasury.urls")),
    path("loans/desk/", include("loans.desk.urls")),
    path("loans/", include("loans.urls")),
    path("risk/", include("collateral.urls")),
    path("alerts/", include("financing.alerts.urls")),
    path("admin/", admin.site.urls),
    path("", include("financing.dashboard.urls")),
]
