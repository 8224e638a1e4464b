from __future__ import annotations

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.decorators import action

from financing.audit.selectors import record_timeline

_CHANGES = inline_serializer(
    "HistoryChange",
    {
        "field": serializers.CharField(),
        "label": serializers.CharField(),
        "old": serializers.JSONField(allow_null=True),
        "new": serializers.JSONField(allow_null=True),
    },
    many=True,
)
_VERSIONS = inline_serializer(
    "HistoryVersion",
    {
        "history_id": serializers.IntegerField(),
        "at": serializers.DateTimeField(),
        "user": serializers.CharField(allow_null=True),
        "type": serializers.ChoiceField(choices=["created", "changed", "deleted"]),
        "reason": serializers.CharField(),
        "changes": _CHANGES,
    },
    many=True,
)


class HistoryMixin:
    """GET <detail>/history/: every version of the record, oldest first, who, when, why and what
    changed; paginated like every list ({"count", "next", "previous", "results"}, ?page=)."""

    @extend_schema(
        responses={200: _VERSIONS},
        summary="Every version of this record",
    )
    @action(detail=True, methods=["get"], filter_backends=[])
    def history(self, request, *args, **kwargs):
        obj = self.get_object()
        timeline = record_timeline(type(obj), obj.pk)
        page = self.paginate_queryset(timeline)
        return self.get_paginated_response(page)
