"""REST endpoints for dead-letter queues and alarms (permission-checked, in the schema).

GET  /api/dlqs                          the stage's DLQs with depth
GET  /api/dlqs/{name}/messages          archived messages, decoded (filters, cursor pages)
GET  /api/dlqs/{name}/groups            waiting messages grouped by task and error
POST /api/dlqs/{name}/redrive           dry run (200) or a background job (202, poll it)
POST /api/dlqs/{name}/delete            delete selected waiting messages
POST /api/dlqs/{name}/purge             delete every waiting message (confirm with the name)
GET  /api/redrives/{id}                 a redrive job's progress
POST /api/redrives/{id}/cancel|resume
GET  /api/alarms                        ?state=ALARM; ?refresh=true asks CloudWatch first
GET  /api/alarms/{name}/history         recorded state changes; ?fill=true adds CloudWatch's
POST /api/alarms/{name}/mute|unmute|acknowledge|assign
"""

import uuid

from django.contrib.auth import get_user_model
from django.http import Http404
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from console.api.openapi import PROBLEM, extend_schema
from console.api.pagination import KeysetPagination
from console.api.rest import problem
from console.models import AuditEntry
from ops import alarms, archive, decoding, queues, selectors
from ops.errors import AwsRefused, OpsError
from ops.models import Alarm, AlarmEvent, DeadLetter, RedriveJob
from ops.redrive import jobs, move_tasks

# --- Serializers ----------------------------------------------------------------------------


class DeadLetterQueueSerializer(serializers.Serializer):
    name = serializers.CharField()
    fifo = serializers.BooleanField()
    sources = serializers.ListField(child=serializers.CharField(), help_text="SQS queues that dead-letter here")
    fedBy = serializers.ListField(child=serializers.CharField(), help_text="sqs, sns and/or lambda")
    otherSources = serializers.ListField(child=serializers.CharField())
    waiting = serializers.IntegerField(help_text="archived messages waiting for a decision")
    inSqs = serializers.IntegerField(help_text="messages still in the SQS queue (not archived yet)")
    inFlight = serializers.IntegerField()
    oldestAt = serializers.DateTimeField(allow_null=True)
    oldestAgeSeconds = serializers.IntegerField(allow_null=True)
    moveTaskSupported = serializers.BooleanField(help_text="AWS's StartMessageMoveTask can serve it")


class DeadLetterSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    queue = serializers.CharField(source="queue_name")
    messageId = serializers.CharField(source="message_id")
    kind = serializers.CharField()
    task = serializers.CharField()
    taskId = serializers.CharField(source="task_id")
    errorType = serializers.CharField(source="error_type")
    error = serializers.CharField()
    orderId = serializers.UUIDField(source="order_id", allow_null=True)
    summary = serializers.JSONField()
    body = serializers.SerializerMethodField(help_text="the body as received, task tokens masked")
    attributes = serializers.JSONField()
    messageAttributes = serializers.JSONField(source="message_attributes")
    sourceQueue = serializers.CharField(source="source_queue")
    sentAt = serializers.DateTimeField(source="sent_at", allow_null=True)
    archivedAt = serializers.DateTimeField(source="archived_at")
    receiveCount = serializers.IntegerField(source="receive_count")
    groupId = serializers.CharField(source="group_id")
    fingerprint = serializers.CharField()
    state = serializers.CharField()
    redriveJob = serializers.UUIDField(source="redrive_job_id", allow_null=True)
    redriveError = serializers.CharField(source="redrive_error")
    resolvedAt = serializers.DateTimeField(source="resolved_at", allow_null=True)
    resolvedTo = serializers.CharField(source="resolved_to")

    def get_body(self, message: DeadLetter) -> str:
        return decoding.redact(message.body)


# Ages are counted back from now: a century covers every archived message, and anything
# longer would reach before year 1 (an OverflowError, i.e. a 500).
MAX_AGE_HOURS = 100 * 365 * 24
# Archive ids are 64-bit (BigAutoField); a larger number is no id, and the database refuses it.
MAX_ID = 2**63 - 1


class DeadLetterFilterSerializer(serializers.Serializer):
    state = serializers.ChoiceField(choices=[*DeadLetter.State.values, "all"], required=False)
    order = serializers.UUIDField(required=False)
    task = serializers.CharField(required=False, max_length=255)
    error = serializers.CharField(required=False, max_length=500)
    kind = serializers.ChoiceField(choices=DeadLetter.Kind.values, required=False)
    olderThanHours = serializers.FloatField(
        source="older_than_hours", required=False, min_value=0, max_value=MAX_AGE_HOURS
    )
    newerThanHours = serializers.FloatField(
        source="newer_than_hours", required=False, min_value=0, max_value=MAX_AGE_HOURS
    )
    fingerprint = serializers.CharField(required=False, max_length=40)
    text = serializers.CharField(required=False, max_length=255)


class DeadLetterGroupSerializer(serializers.Serializer):
    fingerprint = serializers.CharField()
    queue = serializers.CharField(source="queue_name")
    kind = serializers.CharField()
    task = serializers.CharField()
    errorType = serializers.CharField(source="error_type")
    error = serializers.CharField()
    count = serializers.IntegerField()
    orders = serializers.IntegerField()
    first = serializers.DateTimeField()
    last = serializers.DateTimeField()


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


class DeadLetterDeleteInputSerializer(serializers.Serializer):
    messageIds = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=MAX_ID), min_length=1, max_length=10000
    )
    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)


class DeadLetterPurgeInputSerializer(serializers.Serializer):
    confirm = serializers.CharField(help_text="the queue's name, typed again")
    reason = serializers.CharField(max_length=2000)


class DeadLetterCountSerializer(serializers.Serializer):
    deleted = serializers.IntegerField()
    inSqs = serializers.IntegerField(required=False)


class AlarmSerializer(serializers.Serializer):
    name = serializers.CharField()
    state = serializers.CharField()
    reason = serializers.CharField(source="state_reason")
    stateChangedAt = serializers.DateTimeField(source="state_changed_at", allow_null=True)
    description = serializers.CharField()
    namespace = serializers.CharField()
    metric = serializers.CharField(source="metric_name")
    dimensions = serializers.JSONField()
    statistic = serializers.CharField()
    comparison = serializers.CharField()
    threshold = serializers.FloatField(allow_null=True)
    period = serializers.IntegerField(allow_null=True)
    evaluationPeriods = serializers.IntegerField(source="evaluation_periods", allow_null=True)
    actionsEnabled = serializers.BooleanField(source="actions_enabled")
    exists = serializers.BooleanField()
    mutedUntil = serializers.DateTimeField(source="muted_until", allow_null=True)
    muteReason = serializers.CharField(source="mute_reason")
    acknowledgedBy = serializers.CharField(source="acknowledged_by", allow_null=True)
    acknowledgedAt = serializers.DateTimeField(source="acknowledged_at", allow_null=True)
    owner = serializers.CharField(allow_null=True)
    deadLetterQueue = serializers.SerializerMethodField()

    def get_deadLetterQueue(self, alarm: Alarm) -> str:  # noqa: N802 (the API is camelCase)
        return selectors.alarm_dead_letter_queue(alarm)


class AlarmEventSerializer(serializers.Serializer):
    state = serializers.CharField()
    previousState = serializers.CharField(source="previous_state")
    reason = serializers.CharField()
    reasonData = serializers.JSONField(source="reason_data")
    occurredAt = serializers.DateTimeField(source="occurred_at")
    source = serializers.CharField()


class DeadLetterQueueListFilterSerializer(serializers.Serializer):
    refresh = serializers.BooleanField(
        required=False, default=False, help_text="ask SQS now instead of the minute-old view"
    )


class AlarmHistoryFilterSerializer(serializers.Serializer):
    fill = serializers.BooleanField(
        required=False, default=False, help_text="add what CloudWatch's DescribeAlarmHistory kept"
    )


class AlarmFilterSerializer(serializers.Serializer):
    state = serializers.ChoiceField(choices=Alarm.State.values, required=False)
    refresh = serializers.BooleanField(required=False, default=False)
    includeDeleted = serializers.BooleanField(required=False, default=False)


class AlarmMuteInputSerializer(serializers.Serializer):
    minutes = serializers.IntegerField(min_value=1, max_value=7 * 24 * 60)
    reason = serializers.CharField(max_length=2000)


class AlarmAcknowledgeInputSerializer(serializers.Serializer):
    note = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)


class AlarmAssignInputSerializer(serializers.Serializer):
    owner = serializers.CharField(allow_blank=True, help_text="a staff username; '' to clear")


# --- Helpers --------------------------------------------------------------------------------


def _ops_problem(exc: OpsError) -> Response:
    return problem(status.HTTP_400_BAD_REQUEST, "Invalid input.", "invalid", str(exc), {exc.field: [str(exc)]})


def _conflict(exc: OpsError) -> Response:
    if isinstance(exc, AwsRefused):
        # AWS's code, as every AWS error the API answers carries (console.api.rest.aws_problem).
        return problem(
            status.HTTP_409_CONFLICT,
            "Conflict.",
            exc.code,
            str(exc),
            {exc.field: [str(exc)]},
            aws_request_id=exc.request_id,
        )
    return problem(status.HTTP_409_CONFLICT, "Conflict.", "conflict", str(exc), {exc.field: [str(exc)]})


def _known_queue(name: str) -> None:
    if name in {q.name for q in queues.dead_letter_queues_discovered()}:
        return
    if DeadLetter.objects.filter(queue_name=name).exists():
        return
    raise Http404("No dead-letter queue with this name.")


class DeadLetterPagination(KeysetPagination):
    """Newest first (selectors.dead_letter_list orders by archive time, then id); up to 500
    a page, for selecting messages to redrive or delete."""

    default_ordering = "-archived_at"
    max_page_size = 500


# --- Dead-letter queues ---------------------------------------------------------------------


class DeadLetterQueueListApi(APIView):
    queryset = DeadLetter.objects.none()

    @extend_schema(
        operation_id="dlqs_list",
        parameters=[DeadLetterQueueListFilterSerializer],
        responses={200: DeadLetterQueueSerializer(many=True), 400: PROBLEM},
    )
    def get(self, request: Request) -> Response:
        filters = DeadLetterQueueListFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        rows = queues.queue_rows(refresh=filters.validated_data["refresh"])
        return Response(DeadLetterQueueSerializer(rows, many=True).data)


class DeadLetterMessagesApi(APIView):
    queryset = DeadLetter.objects.none()
    # Paged by hand below; named here so the schema documents the page and its parameters.
    pagination_class = DeadLetterPagination

    @extend_schema(
        operation_id="dlqs_messages",
        parameters=[DeadLetterFilterSerializer],
        responses={200: DeadLetterSerializer(many=True), 400: PROBLEM, 404: PROBLEM},
    )
    def get(self, request: Request, name: str) -> Response:
        _known_queue(name)
        filters = DeadLetterFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        paginator = self.pagination_class()
        messages = selectors.dead_letter_list(queue_name=name, filters=filters.validated_data)
        page = paginator.paginate_queryset(messages, request, self)
        return paginator.get_paginated_response(DeadLetterSerializer(page, many=True).data)


class DeadLetterGroupsApi(APIView):
    queryset = DeadLetter.objects.none()

    @extend_schema(
        operation_id="dlqs_groups",
        parameters=[DeadLetterFilterSerializer],
        responses={200: DeadLetterGroupSerializer(many=True), 400: PROBLEM, 404: PROBLEM},
    )
    def get(self, request: Request, name: str) -> Response:
        _known_queue(name)
        filters = DeadLetterFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        groups = selectors.dead_letter_groups(queue_name=name, filters=filters.validated_data)
        return Response(DeadLetterGroupSerializer(groups, many=True).data)


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
        _known_queue(name)
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
            return _conflict(exc)
        except OpsError as exc:
            return _ops_problem(exc)
        location = request.build_absolute_uri(f"/api/redrives/{job.pk}")
        return Response(RedriveJobSerializer(job).data, status=status.HTTP_202_ACCEPTED, headers={"Location": location})


class DeadLetterDeleteApi(APIView):
    queryset = DeadLetter.objects.none()
    required_permissions = {"POST": ["ops.purge_deadletter"]}

    @extend_schema(
        operation_id="dlqs_delete",
        request=DeadLetterDeleteInputSerializer,
        responses={200: DeadLetterCountSerializer, 400: PROBLEM, 404: PROBLEM},
    )
    def post(self, request: Request, name: str) -> Response:
        _known_queue(name)
        payload = DeadLetterDeleteInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        try:
            deleted = archive.dead_letters_delete(
                queue_name=name,
                message_ids=payload.validated_data["messageIds"],
                actor=request.user,
                reason=payload.validated_data["reason"],
                source=AuditEntry.Source.API,
            )
        except OpsError as exc:
            return _ops_problem(exc)
        return Response({"deleted": deleted})


class DeadLetterPurgeApi(APIView):
    queryset = DeadLetter.objects.none()
    required_permissions = {"POST": ["ops.purge_deadletter"]}

    @extend_schema(
        operation_id="dlqs_purge",
        request=DeadLetterPurgeInputSerializer,
        responses={200: DeadLetterCountSerializer, 400: PROBLEM, 404: PROBLEM},
    )
    def post(self, request: Request, name: str) -> Response:
        _known_queue(name)
        payload = DeadLetterPurgeInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        try:
            result = archive.dead_letter_queue_purge(
                queue_name=name,
                confirm=payload.validated_data["confirm"],
                actor=request.user,
                reason=payload.validated_data["reason"],
                source=AuditEntry.Source.API,
            )
        except OpsError as exc:
            return _ops_problem(exc)
        return Response({"deleted": result.archived, "inSqs": result.in_sqs})


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
            return _conflict(exc)
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


# --- Alarms ---------------------------------------------------------------------------------


def _alarm_or_404(name: str) -> Alarm:
    try:
        return Alarm.objects.select_related("owner", "acknowledged_by").get(name=name)
    except Alarm.DoesNotExist:
        raise Http404("No alarm with this name.") from None


class AlarmListApi(APIView):
    queryset = Alarm.objects.none()

    @extend_schema(
        operation_id="alarms_list",
        parameters=[AlarmFilterSerializer],
        responses={200: AlarmSerializer(many=True), 400: PROBLEM},
    )
    def get(self, request: Request) -> Response:
        filters = AlarmFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        if filters.validated_data["refresh"]:
            alarms.alarms_sync()
        found = selectors.alarm_list(
            state=filters.validated_data.get("state"), include_deleted=filters.validated_data["includeDeleted"]
        )
        return Response(AlarmSerializer(found, many=True).data)


class AlarmHistoryApi(APIView):
    queryset = Alarm.objects.none()

    @extend_schema(
        operation_id="alarms_history",
        parameters=[AlarmHistoryFilterSerializer],
        responses={200: AlarmEventSerializer(many=True), 400: PROBLEM, 404: PROBLEM},
    )
    def get(self, request: Request, name: str) -> Response:
        if not AlarmEvent.objects.filter(alarm_name=name).exists():
            _alarm_or_404(name)
        filters = AlarmHistoryFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        if filters.validated_data["fill"]:
            alarms.alarm_history_fill(name=name)
        return Response(AlarmEventSerializer(selectors.alarm_history(name=name), many=True).data)


class AlarmMuteApi(APIView):
    queryset = Alarm.objects.none()
    required_permissions = {"POST": ["ops.manage_alarm"]}

    @extend_schema(
        operation_id="alarms_mute",
        request=AlarmMuteInputSerializer,
        responses={200: AlarmSerializer, 400: PROBLEM, 404: PROBLEM},
    )
    def post(self, request: Request, name: str) -> Response:
        _alarm_or_404(name)
        payload = AlarmMuteInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        try:
            alarm = alarms.alarm_mute(
                name=name, actor=request.user, source=AuditEntry.Source.API, **payload.validated_data
            )
        except OpsError as exc:
            return _ops_problem(exc)
        return Response(AlarmSerializer(alarm).data)


class AlarmUnmuteApi(APIView):
    queryset = Alarm.objects.none()
    required_permissions = {"POST": ["ops.manage_alarm"]}

    @extend_schema(operation_id="alarms_unmute", request=None, responses={200: AlarmSerializer, 404: PROBLEM})
    def post(self, request: Request, name: str) -> Response:
        _alarm_or_404(name)
        return Response(
            AlarmSerializer(alarms.alarm_unmute(name=name, actor=request.user, source=AuditEntry.Source.API)).data
        )


class AlarmAcknowledgeApi(APIView):
    queryset = Alarm.objects.none()
    required_permissions = {"POST": ["ops.manage_alarm"]}

    @extend_schema(
        operation_id="alarms_acknowledge",
        request=AlarmAcknowledgeInputSerializer,
        responses={200: AlarmSerializer, 404: PROBLEM, 409: PROBLEM},
    )
    def post(self, request: Request, name: str) -> Response:
        _alarm_or_404(name)
        payload = AlarmAcknowledgeInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        try:
            alarm = alarms.alarm_acknowledge(
                name=name, actor=request.user, note=payload.validated_data["note"], source=AuditEntry.Source.API
            )
        except OpsError as exc:
            return _conflict(exc)
        return Response(AlarmSerializer(alarm).data)


class AlarmAssignApi(APIView):
    queryset = Alarm.objects.none()
    required_permissions = {"POST": ["ops.manage_alarm"]}

    @extend_schema(
        operation_id="alarms_assign",
        request=AlarmAssignInputSerializer,
        responses={200: AlarmSerializer, 400: PROBLEM, 404: PROBLEM},
    )
    def post(self, request: Request, name: str) -> Response:
        _alarm_or_404(name)
        payload = AlarmAssignInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        username = payload.validated_data["owner"].strip()
        owner = None
        if username:
            owner = get_user_model().objects.filter(username=username, is_staff=True, is_active=True).first()
            if owner is None:
                return problem(
                    status.HTTP_400_BAD_REQUEST,
                    "Invalid input.",
                    "invalid",
                    "No active staff user with this name.",
                    {"owner": ["No active staff user with this name."]},
                )
        alarm = alarms.alarm_assign(name=name, owner=owner, actor=request.user, source=AuditEntry.Source.API)
        return Response(AlarmSerializer(alarm).data)
