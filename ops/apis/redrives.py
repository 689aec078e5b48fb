"""REST endpoints for redrive: the dry run and the start of a job (or of AWS's move task)
from a dead-letter queue, the job's progress, cancel and resume."""

import uuid

from django.http import Http404
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from console.api.openapi import PROBLEM, extend_schema
from console.models import AuditEntry
from ops.apis.common import conflict, ops_problem
from ops.apis.dead_letters import MAX_ID, DeadLetterFilterSerializer, DeadLetterSerializer, known_queue_or_404
from ops.errors import AwsRefused, OpsError
from ops.models import DeadLetter, RedriveJob
from ops.redrive import jobs, move_tasks


class DeadLetterRedriveInputSerializer(serializers.Serializer):
    mode = serializers.ChoiceField(choices=RedriveJob.Mode.values, default=RedriveJob.Mode.ALL)
    messageIds = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=MAX_ID), required=False, max_length=10000
    )
    filter = DeadLetterFilterSerializer(required=False)
    target = serializers.CharField(required=False, allow_blank=True, default="", help_text="'' = source queue(s)")
    dryRun = serializers.BooleanField(default=False)
    rateLimit = serializers.IntegerField(required=False, allow_null=True, min_value=1, max_value=10000)
    parallelism = serializers.IntegerField(default=1, min_value=1, max_value=64)
    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)


class RedriveJobSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    queue = serializers.CharField(source="queue_name")
    target = serializers.CharField(source="target_queue")
    mode = serializers.CharField()
    filters = serializers.JSONField()
    status = serializers.CharField()
    interrupted = serializers.SerializerMethodField()
    total = serializers.IntegerField()
    moved = serializers.IntegerField()
    failed = serializers.IntegerField()
    percent = serializers.IntegerField()
    rateLimit = serializers.IntegerField(source="rate_limit", allow_null=True)
    parallelism = serializers.IntegerField()
    lastError = serializers.CharField(source="last_error")
    createdBy = serializers.CharField(source="created_by", allow_null=True)
    createdAt = serializers.DateTimeField(source="created_at")
    startedAt = serializers.DateTimeField(source="started_at", allow_null=True)
    finishedAt = serializers.DateTimeField(source="finished_at", allow_null=True)

    def get_interrupted(self, job: RedriveJob) -> bool:
        return jobs.redrive_is_stale(job)


class RedrivePlanSerializer(serializers.Serializer):
    dryRun = serializers.BooleanField(default=True)
    count = serializers.IntegerField()
    targets = serializers.DictField(child=serializers.IntegerField())
    problems = serializers.ListField(child=serializers.CharField())
    samples = DeadLetterSerializer(many=True)


class DeadLetterRedriveApi(APIView):
    queryset = DeadLetter.objects.none()
    required_permissions = {"POST": ["ops.redrive_deadletter"]}

    @extend_schema(
        operation_id="dlqs_redrive",
        request=DeadLetterRedriveInputSerializer,
        responses={
            200: OpenApiResponse(RedrivePlanSerializer, description="dry run: what would move"),
            202: OpenApiResponse(RedriveJobSerializer, description="the job; poll Location"),
            400: PROBLEM,
            404: PROBLEM,
            409: OpenApiResponse(
                PROBLEM.response, description="mode move_task: SQS refused to start it now (`code` is SQS's)"
            ),
        },
        description="Redrive all, selected or filtered waiting messages to their source queue(s) or "
        "another stage queue. `dryRun` answers the count, targets and samples without changing "
        "anything. Mode `move_task` asks AWS's StartMessageMoveTask to move the messages still in SQS.",
    )
    def post(self, request: Request, name: str) -> Response:
        known_queue_or_404(name)
        payload = DeadLetterRedriveInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        filters = dict(data.get("filter") or {})
        filters.pop("state", None)
        try:
            if data["mode"] == RedriveJob.Mode.MOVE_TASK:
                if data["dryRun"]:
                    raise OpsError("A move task has no dry run: AWS moves what is in the queue.", "dryRun")
                job = move_tasks.redrive_move_task_start(
                    queue_name=name,
                    actor=request.user,
                    rate_limit=data.get("rateLimit"),
                    reason=data["reason"],
                    source=AuditEntry.Source.API,
                )
            elif data["dryRun"]:
                plan = jobs.redrive_plan(
                    queue_name=name,
                    mode=data["mode"],
                    filters=filters,
                    message_ids=data.get("messageIds"),
                    target_queue=data["target"],
                )
                body = {
                    "dryRun": True,
                    "count": plan.count,
                    "targets": plan.targets,
                    "problems": plan.problems,
                    "samples": plan.samples,
                }
                return Response(RedrivePlanSerializer(body).data)
            else:
                job = jobs.redrive_start(
                    queue_name=name,
                    mode=data["mode"],
                    actor=request.user,
                    filters=filters,
                    message_ids=data.get("messageIds"),
                    target_queue=data["target"],
                    rate_limit=data.get("rateLimit"),
                    parallelism=data["parallelism"],
                    reason=data["reason"],
                    source=AuditEntry.Source.API,
                )
        except AwsRefused as exc:
            return conflict(exc)
        except OpsError as exc:
            return ops_problem(exc)
        location = request.build_absolute_uri(f"/api/redrives/{job.pk}")
        return Response(RedriveJobSerializer(job).data, status=status.HTTP_202_ACCEPTED, headers={"Location": location})


# --- Redrive jobs ---------------------------------------------------------------------------


def _job_or_404(job_id: str) -> RedriveJob:
    try:
        return RedriveJob.objects.select_related("created_by").get(pk=uuid.UUID(job_id))
    except (ValueError, RedriveJob.DoesNotExist):
        raise Http404("No redrive job with this id.") from None


class RedriveJobApi(APIView):
    queryset = RedriveJob.objects.none()

    @extend_schema(operation_id="redrives_retrieve", responses={200: RedriveJobSerializer, 404: PROBLEM})
    def get(self, request: Request, job_id: str) -> Response:
        job = _job_or_404(job_id)
        if job.mode == RedriveJob.Mode.MOVE_TASK:
            job = move_tasks.redrive_move_task_refresh(job=job)
        return Response(RedriveJobSerializer(job).data)


class RedriveJobActionApi(APIView):
    queryset = RedriveJob.objects.none()
    required_permissions = {"POST": ["ops.redrive_deadletter"]}
    action = ""

    @extend_schema(request=None, responses={200: RedriveJobSerializer, 404: PROBLEM, 409: PROBLEM})
    def post(self, request: Request, job_id: str) -> Response:
        job = _job_or_404(job_id)
        operation = jobs.redrive_cancel if self.action == "cancel" else jobs.redrive_resume
        try:
            job = operation(job_id=job.pk, actor=request.user, source=AuditEntry.Source.API)
        except OpsError as exc:
            return conflict(exc)
        return Response(RedriveJobSerializer(job).data)


class RedriveJobCancelApi(RedriveJobActionApi):
    action = "cancel"

    @extend_schema(
        operation_id="redrives_cancel",
        request=None,
        responses={
            200: RedriveJobSerializer,
            404: PROBLEM,
            409: OpenApiResponse(
                PROBLEM.response, description="the job has ended, or SQS no longer runs its move task"
            ),
        },
    )
    def post(self, request: Request, job_id: str) -> Response:
        return super().post(request, job_id)


class RedriveJobResumeApi(RedriveJobActionApi):
    action = "resume"

    @extend_schema(
        operation_id="redrives_resume", request=None, responses={200: RedriveJobSerializer, 404: PROBLEM, 409: PROBLEM}
    )
    def post(self, request: Request, job_id: str) -> Response:
        return super().post(request, job_id)
