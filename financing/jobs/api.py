from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from financing import clock
from financing.api.base import IdempotencyMixin, RolePermission
from financing.errors import NotFound
from financing.jobs import registry
from financing.jobs.models import JobRun
from financing.jobs.selectors import jobs_overview
from financing.jobs.tasks import job_enqueue


class JobRunSerializer(serializers.ModelSerializer):
    class Meta:
        model = JobRun
        fields = [
            "id",
            "job",
            "trigger",
            "status",
            "started_at",
            "finished_at",
            "counts",
            "error",
            "requested_by",
        ]


class JobRunViewSet(IdempotencyMixin, mixins.ListModelMixin, viewsets.GenericViewSet):
    """Job runs, newest first; GET /api/jobs/ lists runs, /api/jobs/overview/ each job's health."""

    queryset = JobRun.objects.all()
    serializer_class = JobRunSerializer
    permission_classes = [RolePermission]
    filterset_fields = ["job", "status", "trigger"]
    capabilities = {"list": "jobs.view", "overview": "jobs.view", "run": "jobs.run"}

    @extend_schema(responses={200: dict})
    @action(detail=False, methods=["get"])
    def overview(self, request):
        rows = jobs_overview(now=clock.now())
        return Response(
            [
                {
                    "job": r["job"].name,
                    "description": r["job"].description,
                    "schedule": r["job"].schedule_label,
                    "last_status": r["last_run"].status if r["last_run"] else None,
                    "last_started_at": r["last_run"].started_at if r["last_run"] else None,
                    "last_success_at": r["last_success"],
                    "failures_24h": r["failures_24h"],
                    "overdue": r["overdue"],
                }
                for r in rows
            ]
        )

    @extend_schema(request=None, responses={202: dict})
    @action(detail=False, methods=["post"], url_path=r"(?P<name>[a-z0-9_]+)/run")
    def run(self, request, name=None):
        """Queue a job now; the worker runs it and records a JobRun."""
        try:
            registry.get(name)
        except LookupError:
            raise NotFound(f"No job named {name}.") from None
        job_enqueue(name, trigger=JobRun.Trigger.DASHBOARD, requested_by=request.user.username)
        return Response({"job": name, "status": "queued"}, status=202)
