"""REST endpoints for the stage's queues: every queue with its depth, consumer and DLQ, and
pausing and resuming a queue's consumer."""

from django.http import Http404
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from console.api.openapi import PROBLEM, extend_schema
from console.models import AuditEntry
from ops import queues
from ops.apis.common import conflict, ops_problem
from ops.errors import AwsRefused, OpsError
from ops.models import Queue


class QueueConsumerSerializer(serializers.Serializer):
    function = serializers.CharField(help_text="the Lambda function whose event source mapping reads the queue")
    handler = serializers.CharField(help_text="the Python function its records go to ('' where not known)")
    state = serializers.CharField(
        help_text="the mapping's state (Enabled, Disabled, Enabling, Disabling, ...); "
        "Missing: routed in zappa_settings.json, no mapping in Lambda; '' when Lambda did not answer"
    )
    mappingId = serializers.CharField(help_text="the event source mapping's UUID")
    batchSize = serializers.IntegerField()


class QueueConsumerChangeSerializer(serializers.Serializer):
    action = serializers.ChoiceField(choices=["pause", "resume"])
    by = serializers.CharField()
    at = serializers.DateTimeField()
    reason = serializers.CharField()


class QueueSerializer(serializers.Serializer):
    name = serializers.CharField()
    arn = serializers.CharField()
    fifo = serializers.BooleanField()
    messages = serializers.IntegerField(help_text="waiting to be received (ApproximateNumberOfMessages)")
    inFlight = serializers.IntegerField(help_text="received, not yet deleted (ApproximateNumberOfMessagesNotVisible)")
    delayed = serializers.IntegerField(help_text="sent with a delay, not yet visible")
    oldestAgeSeconds = serializers.IntegerField(
        allow_null=True, help_text="CloudWatch's ApproximateAgeOfOldestMessage; null until it has a datapoint"
    )
    deadLetterQueue = serializers.CharField(allow_null=True, help_text="where its redrive policy sends failures")
    maxReceiveCount = serializers.IntegerField(allow_null=True)
    isDeadLetterQueue = serializers.BooleanField()
    consumers = QueueConsumerSerializer(many=True)
    paused = serializers.BooleanField(help_text="every consumer's mapping is disabled")
    lastConsumerChange = QueueConsumerChangeSerializer(allow_null=True)


class QueueConsumerInputSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=2000, help_text="why: kept in the audit log")


class QueueListApi(APIView):
    queryset = Queue.objects.none()

    @extend_schema(operation_id="queues_list", responses={200: QueueSerializer(many=True)})
    def get(self, request: Request) -> Response:
        # SQS not answering reaches the API's handler (console.api.rest.aws_problem).
        return Response(QueueSerializer(queues.stage_queue_overview().rows, many=True).data)


class _QueueConsumerApi(APIView):
    queryset = Queue.objects.none()
    required_permissions = {"POST": ["ops.pause_queue"]}
    change = staticmethod(queues.queue_pause)

    def post(self, request: Request, name: str) -> Response:
        payload = QueueConsumerInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        try:
            self.change(
                queue_name=name,
                actor=request.user,
                reason=payload.validated_data["reason"],
                source=AuditEntry.Source.API,
            )
        except (queues.QueueConsumerUnchanged, AwsRefused) as exc:
            return conflict(exc)
        except queues.UnknownQueue as exc:
            raise Http404(str(exc)) from None
        except OpsError as exc:
            return ops_problem(exc)
        row = next(row for row in queues.stage_queue_overview().rows if row["name"] == name)
        return Response(QueueSerializer(row).data)


class QueuePauseApi(_QueueConsumerApi):
    change = staticmethod(queues.queue_pause)

    @extend_schema(
        operation_id="queues_pause",
        request=QueueConsumerInputSerializer,
        responses={200: QueueSerializer, 400: PROBLEM, 404: PROBLEM, 409: PROBLEM},
    )
    def post(self, request: Request, name: str) -> Response:
        return super().post(request, name)


class QueueResumeApi(_QueueConsumerApi):
    change = staticmethod(queues.queue_resume)

    @extend_schema(
        operation_id="queues_resume",
        request=QueueConsumerInputSerializer,
        responses={200: QueueSerializer, 400: PROBLEM, 404: PROBLEM, 409: PROBLEM},
    )
    def post(self, request: Request, name: str) -> Response:
        return super().post(request, name)
