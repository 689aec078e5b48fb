"""REST endpoints for failed jobs (Celery tasks that failed): list and search by argument,
read one, retry and discard one, and retry or discard in bulk (ids, or a filter)."""

from django.http import Http404
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from console.api.openapi import PROBLEM, extend_schema
from console.api.pagination import KeysetPagination
from console.api.rest import problem
from console.models import AuditEntry
from ops import failures, selectors
from ops.apis.common import conflict
from ops.apis.dead_letters import MAX_ID
from ops.errors import OpsError
from ops.models import TaskFailure

VIEW = "ops.view_taskfailure"
RETRY = "ops.retry_taskfailure"
DISCARD = "ops.discard_taskfailure"
# One bulk request acts on at most this many jobs (each its own transaction and audit
# entry; a retry is an SQS message each): API Gateway gives a request about 29 s.
BULK_LIMIT = 500


class FailedJobSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    taskId = serializers.CharField(source="task_id")
    task = serializers.CharField()
    args = serializers.JSONField(help_text="positional arguments, as the task was sent")
    kwargs = serializers.JSONField(help_text="keyword arguments, as the task was sent")
    status = serializers.ChoiceField(choices=TaskFailure.Status.choices)
    errorType = serializers.CharField(source="error_type")
    error = serializers.CharField()
    traceback = serializers.CharField()
    attempts = serializers.IntegerField()
    maxRetries = serializers.IntegerField(source="max_retries", allow_null=True, help_text="null: no limit")
    worker = serializers.CharField(help_text="the worker function's name or a Celery worker's hostname")
    orderId = serializers.UUIDField(source="order_id", allow_null=True)
    firstFailedAt = serializers.DateTimeField(source="first_failed_at")
    failedAt = serializers.DateTimeField(source="failed_at")
    retryOf = serializers.IntegerField(source="retry_of_id", allow_null=True, help_text="the failure this retried")
    retryTaskId = serializers.CharField(source="retry_task_id", help_text="the task id of its retry, if retried")
    retriedAt = serializers.DateTimeField(source="retried_at", allow_null=True)
    retriedBy = serializers.CharField(source="retried_by", allow_null=True)
    resolvedAt = serializers.DateTimeField(source="resolved_at", allow_null=True)
    resolvedBy = serializers.CharField(source="resolved_by", allow_null=True)
    resolution = serializers.CharField()


class FailedJobFilterSerializer(serializers.Serializer):
    status = serializers.ChoiceField(
        choices=[*TaskFailure.Status.values, "all"], required=False, help_text="default: failed (for good)"
    )
    task = serializers.CharField(required=False, max_length=255, help_text="the task's name, exactly")
    order = serializers.UUIDField(required=False, help_text="jobs linked to this order")
    text = serializers.CharField(
        required=False, max_length=255, help_text="in the arguments (e.g. an order id), task, task id or error"
    )


class FailedJobActionSerializer(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)


class FailedJobBulkSerializer(serializers.Serializer):
    ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=MAX_ID), required=False, max_length=BULK_LIMIT
    )
    filter = FailedJobFilterSerializer(required=False, help_text="every job matching it (instead of ids)")
    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)

    def validate(self, data):
        if bool(data.get("ids")) == ("filter" in data):
            raise serializers.ValidationError({"ids": ["Give either ids or a filter."]})
        return data


class FailedJobRefusalSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    detail = serializers.CharField()


class FailedJobBulkResultSerializer(serializers.Serializer):
    done = FailedJobSerializer(many=True)
    refused = FailedJobRefusalSerializer(many=True)
    stopped = serializers.CharField(help_text="why the rest were left (the jobs queue refused a retry), or ''")
    remaining = serializers.IntegerField(help_text=f"jobs of the filter past this request's {BULK_LIMIT}")


class FailedJobPagination(KeysetPagination):
    default_ordering = "-failed_at"


def _failure_or_404(failure_id: str) -> TaskFailure:
    try:
        return TaskFailure.objects.select_related("retried_by", "resolved_by").get(pk=int(failure_id))
    except (ValueError, OverflowError, TaskFailure.DoesNotExist):
        raise Http404("No failed job with this id.") from None


class FailedJobListApi(APIView):
    queryset = TaskFailure.objects.none()
    pagination_class = FailedJobPagination

    @extend_schema(
        operation_id="failed_jobs_list",
        parameters=[FailedJobFilterSerializer],
        responses={200: FailedJobSerializer(many=True), 400: PROBLEM},
        description="Celery jobs that failed, latest first: failed for good by default (`status=all` for "
        "every status). `text` searches the stored arguments, so an order id finds the jobs about it.",
    )
    def get(self, request: Request) -> Response:
        filters = FailedJobFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(selectors.task_failure_list(filters=filters.validated_data), request, self)
        return paginator.get_paginated_response(FailedJobSerializer(page, many=True).data)


class FailedJobApi(APIView):
    queryset = TaskFailure.objects.none()

    @extend_schema(operation_id="failed_jobs_retrieve", responses={200: FailedJobSerializer, 404: PROBLEM})
    def get(self, request: Request, failure_id: str) -> Response:
        return Response(FailedJobSerializer(_failure_or_404(failure_id)).data)


class FailedJobActionApi(APIView):
    queryset = TaskFailure.objects.none()
    operation = staticmethod(failures.task_failure_retry)

    def post(self, request: Request, failure_id: str) -> Response:
        failure = _failure_or_404(failure_id)
        payload = FailedJobActionSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        try:
            failure = self.operation(
                failure_id=failure.pk,
                actor=request.user,
                source=AuditEntry.Source.API,
                reason=payload.validated_data["reason"],
            )
        except failures.JobNotSent as exc:
            return problem(503, "Service unavailable.", "jobs_queue_unavailable", str(exc))
        except OpsError as exc:
            return conflict(exc)
        return Response(FailedJobSerializer(failure).data)


class FailedJobRetryApi(FailedJobActionApi):
    required_permissions = {"POST": [VIEW, RETRY]}
    operation = staticmethod(failures.task_failure_retry)

    @extend_schema(
        operation_id="failed_jobs_retry",
        request=FailedJobActionSerializer,
        responses={
            200: OpenApiResponse(FailedJobSerializer, description="sent again: `retryTaskId` is the new task"),
            404: PROBLEM,
            409: OpenApiResponse(
                PROBLEM.response,
                description="not retryable now (still retried by Celery, already retried, resolved, or a task "
                "this code no longer has); nothing changed",
            ),
            503: OpenApiResponse(PROBLEM.response, description="the jobs queue refused the message; nothing changed"),
        },
        description="Send the job again to the jobs queue, same task and arguments, under a new task id. "
        "Its success resolves this job; its failure is listed as a failed job of its own (`retryOf`). Audited.",
    )
    def post(self, request: Request, failure_id: str) -> Response:
        return super().post(request, failure_id)


class FailedJobDiscardApi(FailedJobActionApi):
    required_permissions = {"POST": [VIEW, DISCARD]}
    operation = staticmethod(failures.task_failure_discard)

    @extend_schema(
        operation_id="failed_jobs_discard",
        request=FailedJobActionSerializer,
        responses={
            200: FailedJobSerializer,
            404: PROBLEM,
            409: OpenApiResponse(PROBLEM.response, description="not failed for good; nothing changed"),
        },
        description="Close a job that failed for good without a new run; the record is kept, and its messages "
        "waiting in the dead-letter archive are closed with it. Audited.",
    )
    def post(self, request: Request, failure_id: str) -> Response:
        return super().post(request, failure_id)


class FailedJobBulkApi(APIView):
    queryset = TaskFailure.objects.none()
    action = "retry"

    def post(self, request: Request) -> Response:
        payload = FailedJobBulkSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        if data.get("ids"):
            ids, remaining = sorted(set(data["ids"])), 0
        else:
            matching = selectors.task_failure_list(filters=data["filter"]).order_by("pk")
            ids = list(matching.values_list("pk", flat=True)[: BULK_LIMIT + 1])
            remaining = max(0, matching.count() - BULK_LIMIT) if len(ids) > BULK_LIMIT else 0
            ids = ids[:BULK_LIMIT]
        known = set(TaskFailure.objects.filter(pk__in=ids).values_list("pk", flat=True))
        outcome = failures.task_failures_act(
            action=self.action,
            failure_ids=[pk for pk in ids if pk in known],
            actor=request.user,
            source=AuditEntry.Source.API,
            reason=data["reason"],
        )
        refused = [{"id": pk, "detail": "No failed job with this id."} for pk in ids if pk not in known]
        refused += [{"id": pk, "detail": detail} for pk, detail in outcome.refused.items()]
        body = {"done": outcome.done, "refused": refused, "stopped": outcome.stopped, "remaining": remaining}
        return Response(FailedJobBulkResultSerializer(body).data)


_BULK_DESCRIPTION = (
    "{verb} the jobs named by `ids`, or every job matching `filter` (at most {limit} a request, oldest first: "
    "`remaining` says how many are left), one at a time as the single action would, each audited. Jobs "
    "that cannot be {done} now are listed in `refused` with the reason."
)


class FailedJobBulkRetryApi(FailedJobBulkApi):
    required_permissions = {"POST": [VIEW, RETRY]}
    action = "retry"

    @extend_schema(
        operation_id="failed_jobs_retry_bulk",
        request=FailedJobBulkSerializer,
        responses={200: FailedJobBulkResultSerializer, 400: PROBLEM},
        description=_BULK_DESCRIPTION.format(verb="Retry", limit=BULK_LIMIT, done="retried"),
    )
    def post(self, request: Request) -> Response:
        return super().post(request)


class FailedJobBulkDiscardApi(FailedJobBulkApi):
    required_permissions = {"POST": [VIEW, DISCARD]}
    action = "discard"

    @extend_schema(
        operation_id="failed_jobs_discard_bulk",
        request=FailedJobBulkSerializer,
        responses={200: FailedJobBulkResultSerializer, 400: PROBLEM},
        description=_BULK_DESCRIPTION.format(verb="Discard", limit=BULK_LIMIT, done="discarded"),
    )
    def post(self, request: Request) -> Response:
        return super().post(request)
