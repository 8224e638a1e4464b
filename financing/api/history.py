from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.decorators import action
from rest_framework.response import Response

from financing.audit.selectors import record_timeline


class HistoryMixin:
    """GET <detail>/history/: every version of the record, who, when, why and what changed."""

    @extend_schema(responses={200: dict}, summary="Every version of this record")
    @action(detail=True, methods=["get"])
    def history(self, request, *args, **kwargs):
        obj = self.get_object()
        timeline = record_timeline(type(obj), str(obj.pk))
        return Response({"count": len(timeline), "results": timeline})
