"""REST endpoints for dead-letter queues and their archived messages: list, read, group,
delete and purge (redrive is ``ops.apis.redrives``)."""

from django.http import Http404
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from console.api.openapi import PROBLEM, extend_schema
from console.api.pagination import KeysetPagination
from console.models import AuditEntry
from ops import archive, decoding, queues, selectors
from ops.apis.common import ops_problem
from ops.errors import OpsError
from ops.models import DeadLetter


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


class DeadLetterQueueListFilterSerializer(serializers.Serializer):
    refresh = serializers.BooleanField(
        required=False, default=False, help_text="ask SQS now instead of the minute-old view"
    )


def known_queue_or_404(name: str) -> None:
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
        known_queue_or_404(name)
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
        known_queue_or_404(name)
        filters = DeadLetterFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        groups = selectors.dead_letter_groups(queue_name=name, filters=filters.validated_data)
        return Response(DeadLetterGroupSerializer(groups, many=True).data)


class DeadLetterDeleteApi(APIView):
    queryset = DeadLetter.objects.none()
    required_permissions = {"POST": ["ops.purge_deadletter"]}

    @extend_schema(
        operation_id="dlqs_delete",
        request=DeadLetterDeleteInputSerializer,
        responses={200: DeadLetterCountSerializer, 400: PROBLEM, 404: PROBLEM},
    )
    def post(self, request: Request, name: str) -> Response:
        known_queue_or_404(name)
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
            return ops_problem(exc)
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
        known_queue_or_404(name)
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
            return ops_problem(exc)
        return Response({"deleted": result.archived, "inSqs": result.in_sqs})
