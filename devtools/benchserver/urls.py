"""The bench server's URLconf: every product route, plus the bare baseline every API figure is
a ratio to (quality.md): a DRF list of 50 rows of one table, no joins, no filters, served by
the same server in the same run. Only the bench's server loads it (devtools.benchserver.settings)."""

from django.urls import include, path
from rest_framework import generics, serializers

from financing.refdata.models import Counterparty

BARE_PATH = "/bench/bare/"


class BareCounterpartySerializer(serializers.ModelSerializer):
    class Meta:
        model = Counterparty
        fields = ["id", "code", "name", "kind", "jurisdiction", "risk_rating", "kyc_status"]


class BareListView(generics.ListAPIView):
    """The framework's floor: the project's authentication and pagination (page of 50 with a
    count), one table's plain columns, ordered by its primary key."""

    queryset = Counterparty.objects.order_by("id")
    serializer_class = BareCounterpartySerializer
    filter_backends = []


urlpatterns = [
    path(BARE_PATH.strip("/") + "/", BareListView.as_view(), name="bench-bare"),
    path("", include("financing.urls")),
]
